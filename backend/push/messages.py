"""The words of a notification, in the recipient's language (``User.locale``: en or zh-CN)."""

from __future__ import annotations

from typing import Any

TITLE_MAX = 120
BODY_MAX = 400

# template → locale → (title, body); str.format with the message's parameters.
TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "job_assigned": {
        "en": ("New job {number}", "Job {number} was assigned to you."),
        "zh-CN": ("新工单 {number}", "工单 {number} 已派给你。"),
    },
    "job_reassigned_to_you": {
        "en": ("Job {number} reassigned to you", "Job {number} was reassigned to you."),
        "zh-CN": ("工单 {number} 改派给你", "工单 {number} 已改派给你。"),
    },
    "job_taken_away": {
        "en": (
            "Job {number} reassigned",
            "Job {number} was given to someone else; you no longer need to do it.",
        ),
        "zh-CN": ("工单 {number} 已改派", "工单 {number} 已改派给他人，你无需再处理。"),
    },
    "job_returned": {
        "en": ("Job {number} returned", "Your supervisor returned job {number}: {reason}"),
        "zh-CN": ("工单 {number} 被退回", "主管退回了工单 {number}：{reason}"),
    },
    "job_awaiting_approval": {
        "en": ("Job {number} awaits approval", "Job {number} is signed off and waits for your approval."),
        "zh-CN": ("工单 {number} 待审批", "工单 {number} 已签收，等待你审批。"),
    },
    "sync_exception": {
        "en": ("Sync exception: {exception_kind}", "{message}"),
        "zh-CN": ("同步异常：{exception_kind}", "{message}"),
    },
    "quality_assigned": {
        "en": ("{item_kind} assigned to you", "{title}{due_en}"),
        "zh-CN": ("{item_kind_zh}已分派给你", "{title}{due_zh}"),
    },
    "quality_overdue": {
        "en": ("Overdue {item_kind_lower}", "{title} was due {due}."),
        "zh-CN": ("{item_kind_zh}已逾期", "{title}（截止 {due}）"),
    },
    "spare_shortage": {
        "en": (
            "Spare shortage: {sku} in {region}",
            "{serviceable} serviceable of {required} required (short by {shortage}).",
        ),
        "zh-CN": ("备件短缺：{region} {sku}", "需 {required} 台，可用 {serviceable} 台，缺 {shortage} 台。"),
    },
    "test": {
        "en": ("FieldQ test notification", "Push notifications work on this device."),
        "zh-CN": ("FieldQ 测试通知", "此设备可以收到推送通知。"),
    },
}

QUALITY_ITEM_NAMES = {
    "complaint": ("Complaint", "投诉"),
    "nonconformance": ("Nonconformance", "不合格项"),
    "action": ("Corrective action", "纠正措施"),
    "callback": ("Callback", "回访"),
}


def quality_item_names(kind: str) -> dict[str, str]:
    en, zh = QUALITY_ITEM_NAMES.get(kind, (kind.replace("_", " ").capitalize(), kind))
    return {"item_kind": en, "item_kind_lower": en.lower(), "item_kind_zh": zh}


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render(template: str, locale: str, params: dict[str, Any]) -> tuple[str, str]:
    """The title and body of ``template`` in ``locale`` (English when there is no such translation)."""
    texts = TEMPLATES[template]
    title, body = texts.get(locale) or texts["en"]
    return _clip(title.format(**params), TITLE_MAX), _clip(body.format(**params), BODY_MAX)
