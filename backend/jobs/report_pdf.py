"""The service report as a PDF (reportlab): the same content as the HTML report, on A4 pages with a
running footer, photos as thumbnails and the customer's signature, in English or Simplified Chinese.

Chinese names and addresses need a font with CJK glyphs embedded in the file (subset), or viewers
without Adobe's Asian font packs show blanks: WenQuanYi Zen Hei (Debian ``fonts-wqy-zenhei``, which
setup, CI and the Docker image install) or any TrueType font named by ``FIELDQ_REPORT_FONT``. Without
one, the report falls back to Adobe's STSong-Light, which Acrobat renders but others may not.
"""

from __future__ import annotations

import io
import logging
import os
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from backend.jobs import schemas as s
from backend.jobs.report import LABELS, client_hash_verdict

log = logging.getLogger("fieldq.report")
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)


def _register_font() -> str:
    configured = os.environ.get("FIELDQ_REPORT_FONT")
    for candidate in ([configured] if configured else []) + list(FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            try:
                pdfmetrics.registerFont(TTFont("FieldQReport", candidate, subfontIndex=0))
                return "FieldQReport"
            except Exception:  # a font reportlab cannot read (CFF outlines): try the next one
                log.warning("cannot use %s for PDF reports", candidate, exc_info=True)
    log.warning("no CJK TrueType font found; PDF reports use the non-embedded STSong-Light")
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return "STSong-Light"


FONT = _register_font()
RESULTS = {
    "en": {"pass": "pass", "fail": "FAIL", "na": "n/a"},
    "zh-CN": {"pass": "合格", "fail": "不合格", "na": "不适用"},
}
BODY = ParagraphStyle("body", fontName=FONT, fontSize=9.5, leading=13)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=8, leading=10, textColor=colors.HexColor("#555555"))
TITLE = ParagraphStyle("title", parent=BODY, fontSize=17, leading=22, spaceAfter=4)
HEADING = ParagraphStyle(
    "heading", parent=BODY, fontSize=12, leading=16, spaceBefore=10, spaceAfter=4, keepWithNext=1
)
GRID = TableStyle(
    [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#bbbbbb")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f0f0f0")),
    ]
)
META = TableStyle(
    [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#dddddd")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TEXTCOLOR", (0, 0), (0, -1), colors.HexColor("#555555")),
    ]
)
WIDTH = A4[0] - 36 * mm


def _p(text: object, style: ParagraphStyle = BODY) -> Paragraph:
    return Paragraph(escape("" if text is None else str(text)).replace("\n", "<br/>"), style)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def _stars(rating: int | None) -> str:
    return "—" if rating is None else f"{'★' * rating}{'☆' * (5 - rating)} {rating}/5"


def _image(path: Path | None, max_width: float, max_height: float) -> Image | None:
    if path is None:
        return None
    try:
        from PIL import Image as PILImage

        with PILImage.open(path) as picture:
            width, height = picture.size
            buffer = io.BytesIO()
            # PNG keeps a signature's transparency; reportlab reads it without WebP support of its own.
            picture.save(buffer, "PNG")
    except OSError:
        return None
    scale = min(max_width / width, max_height / height, 1.0)
    buffer.seek(0)
    return Image(buffer, width=width * scale, height=height * scale, mask="auto")


def render_pdf(
    evidence: s.Evidence,
    *,
    lang: str,
    thumbnails: dict[str, Path],
    signature: Path | None,
) -> bytes:
    """The report as PDF bytes. ``thumbnails`` maps each photo's sha256 to its rendered thumbnail;
    ``signature`` is the signature's display rendition. Synchronous: callers run it in a thread."""
    t = LABELS.get(lang, LABELS["en"])
    results = RESULTS.get(lang, RESULTS["en"])
    job = evidence.job
    story: list = [_p(f"{t['title']} · {job.number}", TITLE)]
    unit = f"{job.unit_model} {job.unit_serial}".strip()
    meta = [
        (t["type"], job.type),
        (t["status"], job.status),
        (t["customer"], job.customer_name),
        (t["site"], f"{job.site_name}\n{job.site_address}"),
        (t["unit"], unit or t["none"]),
        (t["technician"], job.assignee_name or t["none"]),
        (t["arrived"], _when(job.arrived_at)),
        (t["done"], _when(job.work_done_at)),
        (t["description"], job.description),
        (t["findings"], job.findings or t["none"]),
    ]
    story.append(
        Table([[_p(k, SMALL), _p(v)] for k, v in meta], colWidths=[35 * mm, WIDTH - 35 * mm], style=META)
    )
    story.append(_p(t["steps"], HEADING))
    rows = [[_p(t["step"]), _p(t["result"]), _p(t["value"]), _p(t["note"])]]
    for step in evidence.steps:
        value = "" if step.value is None else f"{step.value:g}{' (!)' if step.in_range is False else ''}"
        rows.append([_p(step.title), _p(results.get(step.result, step.result)), _p(value), _p(step.note)])
    story.append(
        Table(rows, colWidths=[70 * mm, 22 * mm, 22 * mm, WIDTH - 114 * mm], style=GRID, repeatRows=1)
    )
    parts = [p for p in evidence.parts if p.operation != "swap_remove"]
    if parts:
        story.append(_p(t["parts"], HEADING))
        rows = [[_p("SKU"), _p(""), _p("S/N"), _p(t["qty"])]]
        rows += [[_p(p.sku), _p(p.name), _p(p.serial or ""), _p(p.qty)] for p in parts]
        story.append(Table(rows, colWidths=[35 * mm, 75 * mm, 40 * mm, WIDTH - 150 * mm], style=GRID))
    if evidence.logs:
        story.append(_p(t["logs"], HEADING))
        rows = [
            [_p(g.kind), _p(g.text), _p(f"{g.minutes} {t['minutes']}" if g.minutes else "")]
            for g in evidence.logs
        ]
        story.append(Table(rows, colWidths=[22 * mm, WIDTH - 52 * mm, 30 * mm], style=META))
    column = WIDTH / 3
    photos = [(a, _image(thumbnails.get(a.blob), column - 6 * mm, 45 * mm)) for a in evidence.attachments]
    cells = [[image, _p(a.caption, SMALL)] for a, image in photos if image is not None]
    if cells:
        story.append(_p(t["photos"], HEADING))
        # Three photos a row, each with its caption underneath.
        grid = [cells[i : i + 3] for i in range(0, len(cells), 3)]
        for row in grid:
            row.extend([""] * (3 - len(row)))
        story.append(
            Table(grid, colWidths=[column] * 3, style=TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
        )
    if evidence.signoff:
        so = evidence.signoff
        story.append(_p(t["signoff"], HEADING))
        meta = [
            (t["signer"], so.signer_name),
            (t["accepted"], t["accepted"] if so.accepted else t["refused"]),
            (t["rating"], _stars(so.rating)),
            (t["technical"], _stars(so.rating_technical)),
            (t["service"], _stars(so.rating_service)),
            (t["comment"], so.comment or t["none"]),
            (t["signed_at"], _when(so.signed_at)),
        ]
        story.append(
            Table([[_p(k, SMALL), _p(v)] for k, v in meta], colWidths=[35 * mm, WIDTH - 35 * mm], style=META)
        )
        drawn = _image(signature, 80 * mm, 30 * mm)
        if drawn is not None:
            story += [Spacer(1, 3 * mm), drawn]
        story.append(_p(f"{t['hash']}: {so.hash}", SMALL))
        if evidence.verification is not None:
            verdict = (
                t["intact"]
                if evidence.verification.valid
                else f"{t['changed']}: {', '.join(evidence.verification.changed) or '—'}"
            )
            story.append(_p(verdict, SMALL))
        if so.client_hash:
            story.append(_p(f"{t['client_hash']}: {so.client_hash}", SMALL))
        story.append(_p(client_hash_verdict(so, t)[0], SMALL))
    if evidence.approvals:
        story.append(_p(t["approval"], HEADING))
        rows = [
            [_p(a.decision), _p(a.decided_by_name), _p(_when(a.decided_at)), _p(a.reason)]
            for a in evidence.approvals
        ]
        story.append(Table(rows, colWidths=[22 * mm, 40 * mm, 38 * mm, WIDTH - 100 * mm], style=META))

    def footer(canvas, document) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.setFillColor(colors.HexColor("#777777"))
        canvas.drawString(18 * mm, 10 * mm, f"FieldQ · {t['title']} {job.number}")
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"{document.page}")
        canvas.restoreState()

    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=18 * mm,
        title=f"{t['title']} {job.number}",
        author="FieldQ",
    )
    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()
