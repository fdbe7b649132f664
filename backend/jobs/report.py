"""The printable service report: one self-contained HTML page (images inline as data URIs, its own
print stylesheet), in English or Simplified Chinese. Everything from the record is escaped."""

from __future__ import annotations

import base64
from datetime import datetime
from html import escape

import anyio

from backend.jobs import schemas as s
from backend.jobs.blobs import BlobService
from backend.media.pipeline import MediaError

LABELS = {
    "en": {
        "title": "Service report",
        "job": "Job",
        "type": "Type",
        "status": "Status",
        "customer": "Customer",
        "site": "Site",
        "unit": "Unit",
        "technician": "Technician",
        "arrived": "Arrived",
        "done": "Work done",
        "description": "Request",
        "findings": "Findings",
        "steps": "Work done, step by step",
        "step": "Step",
        "result": "Result",
        "value": "Reading",
        "note": "Note",
        "parts": "Parts used",
        "qty": "Qty",
        "logs": "Notes and time",
        "photos": "Photos",
        "signoff": "Customer acceptance",
        "signer": "Signed by",
        "accepted": "Accepted",
        "refused": "Not accepted",
        "rating": "Overall rating",
        "technical": "Technical quality",
        "service": "Service quality",
        "comment": "Comment",
        "signed_at": "Signed at",
        "hash": "Record hash",
        "client_hash": "Phone's hash of what the customer saw",
        "hashes_match": "Hashes match: what the phone showed the customer is what the record holds.",
        "hashes_differ": "Hashes do not match: the phone showed the customer something other than "
        "what the record holds.",
        "no_client_hash": "The phone sent no hash of what the customer saw.",
        "intact": "The record is unchanged since it was signed.",
        "changed": "Changed since signing",
        "approval": "Approval",
        "none": "—",
        "minutes": "min",
    },
    "zh-CN": {
        "title": "服务报告",
        "job": "工单",
        "type": "类型",
        "status": "状态",
        "customer": "客户",
        "site": "网点",
        "unit": "设备",
        "technician": "工程师",
        "arrived": "到场时间",
        "done": "完工时间",
        "description": "报修内容",
        "findings": "检查结果",
        "steps": "作业步骤",
        "step": "步骤",
        "result": "结果",
        "value": "读数",
        "note": "备注",
        "parts": "使用备件",
        "qty": "数量",
        "logs": "记录与工时",
        "photos": "照片",
        "signoff": "客户验收",
        "signer": "签字人",
        "accepted": "验收通过",
        "refused": "未通过验收",
        "rating": "总体评分",
        "technical": "技术质量",
        "service": "服务质量",
        "comment": "意见",
        "signed_at": "签字时间",
        "hash": "记录哈希",
        "client_hash": "手机端客户所见内容的哈希",
        "hashes_match": "哈希一致：手机展示给客户的内容与记录相符。",
        "hashes_differ": "哈希不一致：手机展示给客户的内容与记录不同。",
        "no_client_hash": "手机未发送客户所见内容的哈希。",
        "intact": "签字后记录未被修改。",
        "changed": "签字后有改动",
        "approval": "审批",
        "none": "—",
        "minutes": "分钟",
    },
}
RESULT_LABELS = {"pass": "✔ pass", "fail": "✘ fail", "na": "n/a"}
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;color:#111;margin:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 8px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ddd;padding:4px 6px;text-align:left;
vertical-align:top}th{background:#f4f4f4}.meta td:first-child{width:22%;color:#555}
.photos{display:flex;flex-wrap:wrap;gap:8px}.photos figure{margin:0;width:160px}
.photos img{width:160px;height:auto;border:1px solid #ccc}figcaption{font-size:11px;color:#555}
.sig{max-width:360px;border:1px solid #ccc;background:#fff}.ok{color:#075e2b}.bad{color:#a40000}
.stars{font-size:16px;letter-spacing:2px}code{font-size:11px;word-break:break-all}
@media print{body{margin:0}h2{break-after:avoid}tr,figure{break-inside:avoid}}
"""


def _t(value: object) -> str:
    return escape("" if value is None else str(value))


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def _stars(rating: int | None) -> str:
    if rating is None:
        return "—"
    return f'<span class="stars">{"★" * rating}{"☆" * (5 - rating)}</span> {rating}/5'


async def _data_uri(blobs: BlobService, sha256: str, variant: str) -> str | None:
    try:
        paths = await blobs.render_variants(sha256)
        data = await anyio.Path(paths[variant]).read_bytes()
    except (MediaError, OSError, KeyError):
        return None
    return "data:image/webp;base64," + base64.b64encode(data).decode()


def client_hash_verdict(signoff: s.SignoffRead, t: dict[str, str]) -> tuple[str, str]:
    """(sentence, css class) on the phone's hash of what the customer saw (SYNC.md 1.1)."""
    if signoff.hash_match is None:
        return t["no_client_hash"], ""
    return (t["hashes_match"], "ok") if signoff.hash_match else (t["hashes_differ"], "bad")


def _client_hash_html(signoff: s.SignoffRead, t: dict[str, str]) -> str:
    sentence, css = client_hash_verdict(signoff, t)
    shown = (
        f"<p>{t['client_hash']}: <code>{_t(signoff.client_hash)}</code></p>" if signoff.client_hash else ""
    )
    return f'{shown}<p class="{css}">{sentence}</p>'


async def render_report(evidence: s.Evidence, blobs: BlobService, *, lang: str = "en") -> str:
    t = LABELS.get(lang, LABELS["en"])
    job = evidence.job
    parts_rows = "".join(
        f"<tr><td>{_t(p.sku)}</td><td>{_t(p.name)}</td><td>{_t(p.serial or '')}</td><td>{p.qty}</td></tr>"
        for p in evidence.parts
        if p.operation != "swap_remove"
    )
    step_rows = "".join(
        f"<tr><td>{_t(x.title)}</td><td>{_t(RESULT_LABELS.get(x.result, x.result))}</td>"
        f"<td>{_t('' if x.value is None else x.value)}{' ⚠' if x.in_range is False else ''}</td>"
        f"<td>{_t(x.note)}</td></tr>"
        for x in evidence.steps
    )
    log_rows = "".join(
        f"<tr><td>{_t(g.kind)}</td><td>{_t(g.text)}</td>"
        f"<td>{_t(f'{g.minutes} ' + t['minutes'] if g.minutes else '')}</td></tr>"
        for g in evidence.logs
    )
    figures = []
    for a in evidence.attachments:
        uri = await _data_uri(blobs, a.blob, "thumbnail")
        if uri:
            figures.append(
                f'<figure><img src="{uri}" alt=""><figcaption>{_t(a.caption)}</figcaption></figure>'
            )
    signoff_html = ""
    if evidence.signoff:
        so = evidence.signoff
        signature = await _data_uri(blobs, so.signature_blob, "display")
        verdict = (
            f'<p class="ok">{t["intact"]}</p>'
            if evidence.verification and evidence.verification.valid
            else f'<p class="bad">{t["changed"]}: {_t(", ".join(evidence.verification.changed))}</p>'
            if evidence.verification
            else ""
        )
        accepted = t["accepted"] if so.accepted else f"<span class='bad'>{t['refused']}</span>"
        signoff_html = f"""
<h2>{t["signoff"]}</h2>
<table class="meta">
<tr><td>{t["signer"]}</td><td>{_t(so.signer_name)}</td></tr>
<tr><td>{t["accepted"]}</td><td>{accepted}</td></tr>
<tr><td>{t["rating"]}</td><td>{_stars(so.rating)}</td></tr>
<tr><td>{t["technical"]}</td><td>{_stars(so.rating_technical)}</td></tr>
<tr><td>{t["service"]}</td><td>{_stars(so.rating_service)}</td></tr>
<tr><td>{t["comment"]}</td><td>{_t(so.comment) or t["none"]}</td></tr>
<tr><td>{t["signed_at"]}</td><td>{_when(so.signed_at)}</td></tr>
</table>
{f'<p><img class="sig" src="{signature}" alt="signature"></p>' if signature else ""}
<p>{t["hash"]}: <code>{_t(so.hash)}</code></p>{verdict}
{_client_hash_html(so, t)}"""
    approvals = "".join(
        f"<tr><td>{_t(a.decision)}</td><td>{_t(a.decided_by_name)}</td><td>{_when(a.decided_at)}</td>"
        f"<td>{_t(a.reason)}</td></tr>"
        for a in evidence.approvals
    )
    unit = f"{job.unit_model} {job.unit_serial}".strip()
    sections = []
    if parts_rows:
        sections.append(
            f"<h2>{t['parts']}</h2><table><tr><th>SKU</th><th></th><th>S/N</th><th>{t['qty']}</th></tr>"
            f"{parts_rows}</table>"
        )
    if log_rows:
        sections.append(f"<h2>{t['logs']}</h2><table>{log_rows}</table>")
    if figures:
        sections.append(f"<h2>{t['photos']}</h2><div class='photos'>{''.join(figures)}</div>")
    sections.append(signoff_html)
    if approvals:
        sections.append(f"<h2>{t['approval']}</h2><table>{approvals}</table>")
    head = (
        f"<!doctype html><html lang='{_t(lang)}'><head><meta charset='utf-8'>"
        f"<title>{t['title']} {_t(job.number)}</title>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<style>{STYLE}</style></head><body>"
    )
    meta = [
        (t["type"], _t(job.type)),
        (t["status"], _t(job.status)),
        (t["customer"], _t(job.customer_name)),
        (t["site"], f"{_t(job.site_name)}<br>{_t(job.site_address)}"),
        (t["unit"], _t(unit) or t["none"]),
        (t["technician"], _t(job.assignee_name) or t["none"]),
        (t["arrived"], _when(job.arrived_at)),
        (t["done"], _when(job.work_done_at)),
        (t["description"], _t(job.description)),
        (t["findings"], _t(job.findings) or t["none"]),
    ]
    meta_rows = "".join(f"<tr><td>{label}</td><td>{value}</td></tr>" for label, value in meta)
    steps_table = (
        f"<h2>{t['steps']}</h2><table><tr><th>{t['step']}</th><th>{t['result']}</th><th>{t['value']}</th>"
        f"<th>{t['note']}</th></tr>{step_rows}</table>"
    )
    return (
        f"{head}<h1>{t['title']} · {_t(job.number)}</h1><table class='meta'>{meta_rows}</table>"
        f"{steps_table}{''.join(sections)}</body></html>"
    )


async def render_report_pdf(evidence: s.Evidence, blobs: BlobService, *, lang: str = "en") -> bytes:
    """The PDF report: the images are rendered (or found) first, then the PDF is laid out in a worker
    thread under the same limit as other image work."""
    from backend.jobs.blobs import image_work
    from backend.jobs.report_pdf import render_pdf

    thumbnails = {}
    for attachment in evidence.attachments:
        try:
            thumbnails[attachment.blob] = (await blobs.render_variants(attachment.blob))["thumbnail"]
        except MediaError:
            continue
    signature = None
    if evidence.signoff:
        try:
            signature = (await blobs.render_variants(evidence.signoff.signature_blob))["display"]
        except MediaError:
            signature = None

    def build() -> bytes:
        return render_pdf(evidence, lang=lang, thumbnails=thumbnails, signature=signature)

    return await image_work(build)
