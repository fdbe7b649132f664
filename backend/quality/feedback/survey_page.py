"""The customer's survey page: server-rendered HTML, no JavaScript, no login.

The link's token is the capability (``tokens``); the form posts back to the same URL and carries the
token in a hidden field too. Every outcome is a page with a clear message, never JSON: a link that is
not valid (400), expired or revoked (410), already answered (409), answers to fix (400, the form again
with the customer's answers kept), thanks (200). Everything shown is escaped with ``html.escape``.
The stylesheet is its own route (``/s/survey.css``) because the PWA's policy allows no inline style."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import parse_qs

CSS = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;
color:#1b1f24;background:#f3f5f7}
main{max-width:640px;margin:0 auto;padding:16px}
header{background:#0b4f8a;color:#fff;padding:16px;border-radius:0 0 12px 12px}
header h1{margin:0;font-size:1.25rem}
header p{margin:4px 0 0;opacity:.9;font-size:.9rem}
.card{background:#fff;border-radius:12px;padding:16px;margin:12px 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.q{margin:0 0 8px;font-weight:600}
.req{color:#b3261e}
.opts{display:flex;flex-wrap:wrap;gap:8px}
.opts label{display:flex;align-items:center;gap:6px;border:1px solid #c8d0d8;border-radius:10px;
padding:10px 14px;min-width:56px;justify-content:center;font-size:1.05rem}
.opts input{width:20px;height:20px}
textarea{width:100%;min-height:110px;font:inherit;padding:10px;border:1px solid #c8d0d8;border-radius:10px}
.error{color:#b3261e;font-weight:600;margin:6px 0 0}
.banner{background:#fdecea;color:#7a1c14;border-radius:12px;padding:12px 16px;margin:12px 0}
button{width:100%;padding:14px;font-size:1.1rem;border:0;border-radius:12px;background:#0b4f8a;color:#fff}
.msg{text-align:center;padding:32px 16px}
.msg h2{margin:0 0 8px}
small{color:#5b6570}
"""

RATING_LABELS = {1: "1 很差", 2: "2 差", 3: "3 一般", 4: "4 好", 5: "5 很好"}
YES_NO = (("yes", "是 Yes"), ("no", "否 No"))
TEXT_MAX = 2000
FORM_MAX_BYTES = 64 * 1024
NOTHING = "_nothing"  # the error of an empty form (no question key starts with "_")


def page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f'<title>{escape(title)}</title><link rel="stylesheet" href="/s/survey.css"></head>'
        f"<body>{body}</body></html>"
    )


def message_page(title: str, message: str) -> str:
    return page(
        title,
        f'<main><div class="card msg"><h2>{escape(title)}</h2><p>{escape(message)}</p></div></main>',
    )


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else ""


def expired_message(expires_at: datetime) -> str:
    return f"这个调查链接已于 {_when(expires_at)} 过期。 This survey link expired on {_when(expires_at)}."


def form_page(
    *,
    token: str,
    template: Any,
    job_number: str,
    site_name: str,
    job_date: datetime | None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> str:
    values = values or {}
    errors = errors or {}
    parts = [
        f"<header><h1>{escape(template.title)}</h1>",
        f"<p>{escape(job_number)} · {escape(site_name)}",
        f" · {job_date:%Y-%m-%d}" if job_date else "",
        "</p></header><main>",
    ]
    if template.intro:
        parts.append(f'<div class="card"><p>{escape(template.intro)}</p></div>')
    if NOTHING in errors:
        parts.append(f'<div class="banner">{escape(errors[NOTHING])}</div>')
    elif errors:
        parts.append(
            '<div class="banner">请检查下面标出的问题。 Please check the answers marked below.</div>'
        )
    action = f"/s/{escape(token)}"
    parts.append(f'<form method="post" action="{action}" accept-charset="utf-8">')
    parts.append(f'<input type="hidden" name="token" value="{escape(token)}">')
    for q in template.questions:
        key = q["key"]
        name = escape(key)
        required = ' <span class="req">*</span>' if q.get("required") else ""
        parts.append(f'<div class="card"><p class="q">{escape(q["text"])}{required}</p>')
        current = values.get(key, "")
        if q["kind"] == "text":
            parts.append(f'<textarea name="{name}" maxlength="{TEXT_MAX}">{escape(current)}</textarea>')
        else:
            if q["kind"] == "rating":
                options = [(str(n), label) for n, label in RATING_LABELS.items()]
            elif q["kind"] == "yes_no":
                options = list(YES_NO)
            else:
                options = [(c, c) for c in q.get("choices") or []]
            parts.append('<div class="opts">')
            for value, label in options:
                checked = " checked" if current == value else ""
                parts.append(
                    f'<label><input type="radio" name="{name}" value="{escape(value)}"{checked}>'
                    f"{escape(label)}</label>"
                )
            parts.append("</div>")
        if key in errors:
            parts.append(f'<p class="error">{escape(errors[key])}</p>')
        parts.append("</div>")
    parts.append('<button type="submit">提交 Submit</button></form>')
    parts.append(
        "<p><small>您的回答仅用于改进服务。 Your answers are used only to improve our service.</small></p>"
    )
    parts.append("</main>")
    return page(template.title, "".join(parts))


class FormRefused(Exception):
    """The body is not a form this page could have sent."""


def parse_form(body: bytes) -> dict[str, str]:
    """The urlencoded form, one value per name (the last wins), NUL and other C0 controls except
    newlines and tabs removed."""
    if len(body) > FORM_MAX_BYTES:
        raise FormRefused("the answers are too long")
    try:
        text = body.decode("utf-8")
        parsed = parse_qs(text, keep_blank_values=True, max_num_fields=100, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormRefused("the form could not be read") from exc
    clean = {}
    for name, items in parsed.items():
        value = items[-1]
        clean[name] = "".join(ch for ch in value if ch in "\n\t" or (ord(ch) >= 0x20 and ch != "\x7f"))
    return clean


def read_answers(
    questions: list[dict[str, Any]], form: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The answers to store (typed) and the problems to show, by question key."""
    answers: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for q in questions:
        key, kind = q["key"], q["kind"]
        raw = form.get(key, "").strip()
        if not raw:
            if q.get("required"):
                errors[key] = "请回答这个问题。 Please answer this question."
            continue
        if kind == "rating":
            if raw not in {"1", "2", "3", "4", "5"}:
                errors[key] = "请选择 1 到 5。 Choose 1 to 5."
            else:
                answers[key] = int(raw)
        elif kind == "yes_no":
            if raw not in ("yes", "no"):
                errors[key] = "请选择是或否。 Choose yes or no."
            else:
                answers[key] = raw == "yes"
        elif kind == "choice":
            if raw not in (q.get("choices") or []):
                errors[key] = "请选择一个选项。 Choose one of the options."
            else:
                answers[key] = raw
        else:
            if len(raw) > TEXT_MAX:
                errors[key] = f"最多 {TEXT_MAX} 个字。 At most {TEXT_MAX} characters."
            else:
                answers[key] = raw
    if not answers and not errors:
        errors[NOTHING] = "请至少回答一个问题。 Please answer at least one question."
    return answers, errors
