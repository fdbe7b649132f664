"""The job status machine, exhaustively: every status × every target × every capacity × every verb,
with and without a reason, against a table written out here from SYNC.md (section "Jobs"), not read
from backend.jobs.workflow."""

from __future__ import annotations

import itertools

import pytest

from backend.jobs.models import JobStatus
from backend.jobs.workflow import OPEN, TERMINAL, Capacity, TransitionRefused, Via, check_transition

TECH, LEAD, OBSERVER = "assignee", "lead", "observer"
PLAIN, DISPATCH, SIGNOFF, APPROVAL = "transition", "dispatch", "signoff", "approval"

# (from, to) → (who may, through which verb, needs a reason). SYNC.md: technician assigned→accepted→
# en_route→on_site→work_done, on_site→incomplete with a reason, returned→awaiting_approval; the sign-off
# moves work_done to awaiting_approval or disputed; supervisor awaiting_approval→approved|returned (a
# return needs a reason) and cancelled (with a reason) from any status before work_done; dispatch
# (assign or reassign) from new, assigned, accepted and en_route.
EXPECTED: dict[tuple[str, str], tuple[str, str, bool]] = {
    ("assigned", "accepted"): (TECH, PLAIN, False),
    ("accepted", "en_route"): (TECH, PLAIN, False),
    ("en_route", "on_site"): (TECH, PLAIN, False),
    ("on_site", "work_done"): (TECH, PLAIN, False),
    ("on_site", "incomplete"): (TECH, PLAIN, True),
    ("returned", "awaiting_approval"): (TECH, PLAIN, False),
    ("work_done", "awaiting_approval"): (TECH, SIGNOFF, False),
    ("work_done", "disputed"): (TECH, SIGNOFF, False),
    ("awaiting_approval", "approved"): (LEAD, APPROVAL, False),
    ("awaiting_approval", "returned"): (LEAD, APPROVAL, True),
    ("new", "cancelled"): (LEAD, PLAIN, True),
    ("assigned", "cancelled"): (LEAD, PLAIN, True),
    ("accepted", "cancelled"): (LEAD, PLAIN, True),
    ("en_route", "cancelled"): (LEAD, PLAIN, True),
    ("on_site", "cancelled"): (LEAD, PLAIN, True),
    ("new", "assigned"): (LEAD, DISPATCH, False),
    ("assigned", "assigned"): (LEAD, DISPATCH, False),
    ("accepted", "assigned"): (LEAD, DISPATCH, False),
    ("en_route", "assigned"): (LEAD, DISPATCH, False),
}
ALL_STATUSES = [
    "new",
    "assigned",
    "accepted",
    "en_route",
    "on_site",
    "work_done",
    "incomplete",
    "awaiting_approval",
    "returned",
    "approved",
    "disputed",
    "cancelled",
]
REASONS = ("", "   ", "the customer postponed")


def expected_outcome(status: str, target: str, capacity: str, via: str, reason: str) -> tuple[str, bool]:
    """('ok', False) or (the refusal code, forbidden?). An observer (quality) may act on no job at all;
    an edge that does not exist is stale; the right edge asked by the wrong capacity is forbidden; the
    right capacity with the wrong verb is told which verb; a needed reason must not be blank."""
    if capacity == OBSERVER:
        return "FORBIDDEN", True
    edge = EXPECTED.get((status, target))
    if edge is None:
        return "STALE_TRANSITION", False
    who, verb, needs_reason = edge
    if who != capacity:
        return "FORBIDDEN", True
    if verb != via:
        return "USE_" + verb.upper(), False
    if needs_reason and not reason.strip():
        return "REASON_REQUIRED", False
    return "ok", False


def test_the_expected_table_covers_the_enum():
    assert sorted(ALL_STATUSES) == sorted(s.value for s in JobStatus)
    assert {c.value for c in Capacity} == {TECH, LEAD, OBSERVER}
    assert {v.value for v in Via} == {PLAIN, DISPATCH, SIGNOFF, APPROVAL}


@pytest.mark.parametrize(("capacity", "via"), list(itertools.product(list(Capacity), list(Via))))
def test_every_status_pair_matches_the_table(capacity, via):
    mismatches = []
    allowed = set()
    for status, target, reason in itertools.product(ALL_STATUSES, ALL_STATUSES, REASONS):
        want_code, want_forbidden = expected_outcome(status, target, capacity.value, via.value, reason)
        try:
            rule = check_transition(status, target, capacity, via=via, reason=reason)
        except TransitionRefused as refused:
            got = (refused.code if not refused.forbidden else "FORBIDDEN", refused.forbidden)
            if got != (want_code, want_forbidden):
                mismatches.append((status, target, repr(reason), got, (want_code, want_forbidden)))
            elif not refused.message:
                mismatches.append((status, target, repr(reason), "empty message"))
            continue
        if want_code != "ok":
            mismatches.append((status, target, repr(reason), "allowed", want_code))
            continue
        if (rule.source, rule.target, rule.by, rule.via) != (status, target, capacity, via):
            mismatches.append((status, target, repr(reason), "wrong rule", rule))
        allowed.add((status, target))
    assert mismatches == []
    # The allowed set is exactly the table's edges for this capacity and verb.
    assert allowed == {
        edge for edge, (who, verb, _reason) in EXPECTED.items() if who == capacity.value and verb == via.value
    }


def test_the_allowed_set_over_the_whole_product_is_the_table():
    allowed = set()
    for status, target, capacity, via in itertools.product(ALL_STATUSES, ALL_STATUSES, Capacity, Via):
        try:
            check_transition(status, target, capacity, via=via, reason="a reason")
        except TransitionRefused:
            continue
        allowed.add((status, target, capacity.value, via.value))
    assert allowed == {(s, t, who, verb) for (s, t), (who, verb, _r) in EXPECTED.items()}
    # Each edge is allowed to exactly one capacity through exactly one verb.
    assert len(allowed) == len(EXPECTED) == 19


def test_refusals_name_what_to_do():
    with pytest.raises(TransitionRefused) as stale:
        check_transition("on_site", "approved", Capacity.assignee)
    # The hint lists what the technician may do from on_site (through any verb).
    assert "from on_site you may move it to" in stale.value.message
    assert "work_done" in stale.value.message and "incomplete" in stale.value.message
    with pytest.raises(TransitionRefused) as wrong_verb:
        check_transition("work_done", "awaiting_approval", Capacity.assignee)
    assert wrong_verb.value.code == "USE_SIGNOFF" and "sign-off" in wrong_verb.value.message
    with pytest.raises(TransitionRefused) as wrong_who:
        check_transition("new", "cancelled", Capacity.assignee, reason="x")
    assert wrong_who.value.forbidden and "supervisor" in wrong_who.value.message
    with pytest.raises(TransitionRefused) as no_reason:
        check_transition("awaiting_approval", "returned", Capacity.lead, via=Via.approval, reason=" \n\t")
    assert no_reason.value.code == "REASON_REQUIRED" and not no_reason.value.forbidden


@pytest.mark.parametrize(("status", "target"), [("flying", "new"), ("new", "done"), ("", "assigned")])
def test_unknown_statuses_are_refused_not_crashed(status, target):
    with pytest.raises(TransitionRefused) as refused:
        check_transition(status, target, Capacity.lead, reason="x")
    assert refused.value.code == "INVALID_STATUS" and not refused.value.forbidden


def test_terminal_and_open_statuses():
    outgoing = {source for source, _target in EXPECTED}
    assert TERMINAL == {s for s in ALL_STATUSES if s not in outgoing}
    assert TERMINAL == {"incomplete", "approved", "disputed", "cancelled"}
    assert OPEN == set(ALL_STATUSES) - TERMINAL
