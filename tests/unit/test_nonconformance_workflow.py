"""The nonconformance workflow's table, with no database: every transition, who may make it, and what a
refusal says."""

from __future__ import annotations

import pytest

from backend.quality.loop.workflow import (
    RULES,
    Capacity,
    Verb,
    WorkflowRefused,
    check,
    check_ready_for_verification,
)
from backend.quality.models import NonconformanceStatus as S

R, OWN, L = Capacity.runner, Capacity.owner, Capacity.lead

ALLOWED = [
    (Verb.accept, S.candidate, {R}, S.open),
    (Verb.dismiss, S.candidate, {R}, S.dismissed),
    (Verb.assign, S.open, {R}, S.assigned),
    (Verb.assign, S.root_cause, {R}, S.root_cause),  # a change of hands keeps the status
    (Verb.root_cause, S.assigned, {OWN}, S.root_cause),
    (Verb.root_cause, S.root_cause, {R}, S.root_cause),
    (Verb.add_action, S.root_cause, {OWN}, S.root_cause),
    (Verb.submit_verification, S.root_cause, {OWN}, S.verification),
    (Verb.verify, S.verification, {R}, S.closed),
    (Verb.verify_ineffective, S.verification, {R}, S.root_cause),
    (Verb.resolve_on_site, S.open, {L}, S.closed),
    (Verb.resolve_on_site, S.assigned, {OWN}, S.closed),
]


@pytest.mark.parametrize(("verb", "status", "held", "target"), ALLOWED)
def test_allowed_transitions(verb, status, held, target):
    assert check(verb, status, held) == target


@pytest.mark.parametrize(
    ("verb", "held"),
    [
        (Verb.accept, {OWN, L}),
        (Verb.dismiss, {OWN}),
        (Verb.assign, {OWN, L}),
        (Verb.root_cause, {L}),
        (Verb.verify, {OWN, L}),
        (Verb.verify_ineffective, {OWN}),
        (Verb.resolve_on_site, set()),
    ],
)
def test_who_may_not(verb, held):
    source = RULES[verb].sources[0]
    with pytest.raises(WorkflowRefused) as refused:
        check(verb, source, held)
    assert refused.value.forbidden


def test_wrong_status_names_the_status_and_what_is_needed():
    with pytest.raises(WorkflowRefused) as refused:
        check(Verb.submit_verification, S.assigned, {R})
    assert not refused.value.forbidden
    assert "is assigned" in refused.value.message and "root_cause" in refused.value.message
    assert "root-cause" in refused.value.message  # what to do instead


@pytest.mark.parametrize("status", [S.closed, S.dismissed])
def test_nothing_moves_a_closed_nonconformance(status):
    for verb in Verb:
        with pytest.raises(WorkflowRefused):
            check(verb, status, {R, OWN, L})


def test_a_candidate_is_accepted_before_anything_else():
    for verb in (Verb.assign, Verb.root_cause, Verb.resolve_on_site, Verb.verify):
        with pytest.raises(WorkflowRefused, match="candidate"):
            check(verb, S.candidate, {R, OWN})


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        ([], "add a corrective action"),
        ([("preventive", "done")], "add a corrective action"),
        ([("corrective", "done"), ("preventive", "open")], "still open"),
        ([("corrective", "cancelled"), ("preventive", "done")], "no corrective action was done"),
    ],
)
def test_verification_needs_the_actions_finished(actions, message):
    with pytest.raises(WorkflowRefused, match=message):
        check_ready_for_verification(actions)


def test_verification_with_corrective_done_and_the_rest_finished():
    check_ready_for_verification(
        [("corrective", "done"), ("corrective", "cancelled"), ("preventive", "done")]
    )
