"""The nonconformance workflow as data and pure functions, testable without a database.

candidate → open (accept) | dismissed (dismiss, with a reason); open → assigned (assign an owner and a
due date); assigned → root_cause (record the cause and its category); root_cause → verification (every
action done or cancelled, a corrective one done); verification → closed (verify: effective) or back to
root_cause (not effective: the actions did not work, plan new ones). A problem the front line resolved on
the spot closes from open or assigned directly (resolve-on-site), recorded as such.

Who: the quality department and managers run the workflow (``runner``); the owner of a nonconformance
(any role) investigates it: root cause, actions, submit for verification; a supervisor of the
nonconformance's team may record a front-line resolution. Verification is the quality department's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from backend.quality.models import ActionKind, ActionStatus
from backend.quality.models import NonconformanceStatus as S


class Capacity(StrEnum):
    runner = "runner"  # quality or manager: runs the workflow on every nonconformance
    owner = "owner"  # the user the nonconformance is assigned to
    lead = "lead"  # a supervisor of the nonconformance's team


class Verb(StrEnum):
    accept = "accept"
    dismiss = "dismiss"
    assign = "assign"
    root_cause = "root-cause"
    add_action = "actions"
    submit_verification = "submit-verification"
    verify = "verify"  # effective: closed
    verify_ineffective = "verify-ineffective"  # not effective: back to root_cause
    resolve_on_site = "resolve-on-site"


@dataclass(frozen=True)
class Rule:
    verb: Verb
    sources: tuple[S, ...]
    target: S | None  # None: the status does not change (a reassignment, an action added)
    by: frozenset[Capacity]


RUNNER = frozenset({Capacity.runner})
INVESTIGATORS = frozenset({Capacity.runner, Capacity.owner})
FRONT_LINE = frozenset({Capacity.runner, Capacity.owner, Capacity.lead})

RULES: dict[Verb, Rule] = {
    r.verb: r
    for r in (
        Rule(Verb.accept, (S.candidate,), S.open, RUNNER),
        Rule(Verb.dismiss, (S.candidate,), S.dismissed, RUNNER),
        # From open it becomes assigned; later it changes hands and keeps its status.
        Rule(Verb.assign, (S.open, S.assigned, S.root_cause, S.verification), S.assigned, RUNNER),
        Rule(Verb.root_cause, (S.assigned, S.root_cause), S.root_cause, INVESTIGATORS),
        Rule(Verb.add_action, (S.root_cause,), None, INVESTIGATORS),
        Rule(Verb.submit_verification, (S.root_cause,), S.verification, INVESTIGATORS),
        Rule(Verb.verify, (S.verification,), S.closed, RUNNER),
        Rule(Verb.verify_ineffective, (S.verification,), S.root_cause, RUNNER),
        Rule(Verb.resolve_on_site, (S.open, S.assigned), S.closed, FRONT_LINE),
    )
}

# What the nonconformance waits for in each status, to tell the caller what to do instead.
NEXT: dict[S, str] = {
    S.candidate: "accept or dismiss it",
    S.open: "assign it (or resolve-on-site)",
    S.assigned: "record the root cause (root-cause) or resolve-on-site",
    S.root_cause: "add actions, finish them, then submit-verification",
    S.verification: "verify it",
    S.closed: "nothing: it is closed",
    S.dismissed: "nothing: it was dismissed",
}
CLOSED = frozenset({S.closed, S.dismissed})
# Statuses in which an owner is working on it (and its due date can pass).
WORKING = frozenset({S.open, S.assigned, S.root_cause, S.verification})


class WorkflowRefused(Exception):
    def __init__(self, message: str, *, forbidden: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.forbidden = forbidden  # not allowed to this caller at all (403) rather than not now (409)


def _who(by: frozenset[Capacity]) -> str:
    names = {
        Capacity.runner: "the quality department or a manager",
        Capacity.owner: "the nonconformance's owner",
        Capacity.lead: "a supervisor of its team",
    }
    return ", ".join(names[c] for c in Capacity if c in by)


def check(verb: Verb | str, status: S | str, capacities: Iterable[Capacity]) -> S:
    """The status after ``verb`` from ``status`` by someone with ``capacities``; raises
    ``WorkflowRefused`` (forbidden, or the current status and what it needs) otherwise."""
    rule = RULES[Verb(verb)]
    status = S(status)
    held = frozenset(capacities)
    if not held & rule.by:
        raise WorkflowRefused(f"only {_who(rule.by)} may {rule.verb} a nonconformance", forbidden=True)
    if status not in rule.sources:
        needed = " or ".join(s.value for s in rule.sources)
        raise WorkflowRefused(
            f"the nonconformance is {status.value}: {rule.verb} needs it {needed}; now {NEXT[status]}"
        )
    if rule.target is None or (rule.verb == Verb.assign and status != S.open):
        return status
    return rule.target


def check_ready_for_verification(actions: Iterable[tuple[str, str]]) -> None:
    """``actions`` are (kind, status) pairs: verification needs a corrective action done and nothing open."""
    actions = list(actions)
    if not any(kind == ActionKind.corrective for kind, _ in actions):
        raise WorkflowRefused("add a corrective action before submitting for verification")
    still_open = sum(1 for _, status in actions if status == ActionStatus.open)
    if still_open:
        raise WorkflowRefused(f"{still_open} action(s) are still open: mark them done or cancel them first")
    if not any(kind == ActionKind.corrective and status == ActionStatus.done for kind, status in actions):
        raise WorkflowRefused("no corrective action was done: there is nothing to verify")
