"""The job status machine of SYNC.md, as data and one pure function, testable without a database.

Who may ask for a transition is a *capacity*, not only a role: the job's assignee, a supervisor of the
job's team (a manager acts as one everywhere), anyone else who may see the job (quality, the assignee's
teammates never see it at all). Some statuses are reached only through their own verb: ``assigned``
through dispatch, ``awaiting_approval`` from ``work_done`` and ``disputed`` through the customer's
sign-off, ``approved`` and ``returned`` through approval. Asking for those through a plain transition is
refused with a message that names the verb.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from backend.jobs.models import JobStatus

S = JobStatus


class Capacity(StrEnum):
    assignee = "assignee"  # the technician the job is assigned to
    lead = "lead"  # a supervisor of the job's team, or a manager
    observer = "observer"  # may see the job but not act on it (quality, a technician's own unassigned view)


class Via(StrEnum):
    """The verb through which a transition is made."""

    transition = "transition"
    dispatch = "dispatch"
    signoff = "signoff"
    approval = "approval"


@dataclass(frozen=True)
class Rule:
    source: JobStatus
    target: JobStatus
    by: Capacity
    via: Via = Via.transition
    needs_reason: bool = False


# Cancellation is a supervisor's call on any status before the work is done.
CANCELLABLE = (S.new, S.assigned, S.accepted, S.en_route, S.on_site)
# Dispatch (assign or reassign) is possible until the technician is on site.
ASSIGNABLE = (S.new, S.assigned, S.accepted, S.en_route)

RULES: tuple[Rule, ...] = (
    Rule(S.assigned, S.accepted, Capacity.assignee),
    Rule(S.accepted, S.en_route, Capacity.assignee),
    Rule(S.en_route, S.on_site, Capacity.assignee),
    Rule(S.on_site, S.work_done, Capacity.assignee),
    Rule(S.on_site, S.incomplete, Capacity.assignee, needs_reason=True),
    Rule(S.returned, S.awaiting_approval, Capacity.assignee),
    Rule(S.work_done, S.awaiting_approval, Capacity.assignee, via=Via.signoff),
    Rule(S.work_done, S.disputed, Capacity.assignee, via=Via.signoff),
    Rule(S.awaiting_approval, S.approved, Capacity.lead, via=Via.approval),
    Rule(S.awaiting_approval, S.returned, Capacity.lead, via=Via.approval, needs_reason=True),
    *(Rule(source, S.cancelled, Capacity.lead, needs_reason=True) for source in CANCELLABLE),
    *(Rule(source, S.assigned, Capacity.lead, via=Via.dispatch) for source in ASSIGNABLE),
)

_BY_EDGE: dict[tuple[JobStatus, JobStatus], Rule] = {(r.source, r.target): r for r in RULES}

TERMINAL = frozenset({S.approved, S.cancelled, S.incomplete, S.disputed})
# Statuses in which the assignee is working on the job (the work record is open before sign-off).
WORKING = frozenset({S.accepted, S.en_route, S.on_site, S.work_done})
OPEN = frozenset(JobStatus) - TERMINAL


class TransitionRefused(Exception):
    """Why a transition is not allowed; ``code`` is the machine-readable reason."""

    def __init__(self, message: str, code: str = "INVALID_TRANSITION", forbidden: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        # The caller is not allowed to make it at all (403), as opposed to not now (409).
        self.forbidden = forbidden


def check_transition(
    status: JobStatus | str,
    target: JobStatus | str,
    capacity: Capacity,
    *,
    via: Via = Via.transition,
    reason: str = "",
) -> Rule:
    """The rule that allows ``status → target`` for ``capacity`` through ``via``; raises
    ``TransitionRefused`` otherwise, with a message a technician or supervisor can act on."""
    try:
        status, target = JobStatus(status), JobStatus(target)
    except ValueError as error:
        raise TransitionRefused(f"unknown job status: {error}", code="INVALID_STATUS") from None
    if capacity == Capacity.observer:
        # Quality (or anyone else who only sees the job) moves no job anywhere: 403, not "not now".
        raise TransitionRefused("you may see this job but not change its status", forbidden=True)
    rule = _BY_EDGE.get((status, target))
    if rule is None:
        allowed = sorted(r.target for r in RULES if r.source == status and r.by == capacity)
        hint = f"; from {status} you may move it to {', '.join(allowed)}" if allowed else ""
        raise TransitionRefused(f"a job cannot go from {status} to {target}{hint}", code="STALE_TRANSITION")
    if rule.by != capacity:
        who = "the assigned technician" if rule.by == Capacity.assignee else "a supervisor of the job's team"
        raise TransitionRefused(f"only {who} may move a job from {status} to {target}", forbidden=True)
    if rule.via != via:
        verbs = {
            Via.dispatch: "assign the job (dispatch)",
            Via.signoff: "record the customer's sign-off",
            Via.approval: "approve or return the job",
            Via.transition: "request the transition",
        }
        raise TransitionRefused(
            f"a job moves from {status} to {target} when you {verbs[rule.via]}",
            code="USE_" + rule.via.upper(),
        )
    if rule.needs_reason and not reason.strip():
        raise TransitionRefused(f"moving a job to {target} needs a reason", code="REASON_REQUIRED")
    return rule
