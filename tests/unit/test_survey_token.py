"""Survey link tokens: signed, bound to one survey, nonce and expiry; anything else is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from backend.quality.feedback import tokens
from backend.quality.feedback.services import TARGETS, survey_wants_complaint

SECRET = "unit-secret-" + "z" * 40


def test_a_token_reads_back_what_it_was_made_of():
    survey_id, nonce = uuid4(), tokens.new_nonce()
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    token = tokens.make_token(SECRET, survey_id, expires, nonce)
    assert token.count(".") == 3 and len(token) < tokens.MAX_TOKEN_LENGTH
    claims = tokens.read_token(SECRET, token)
    assert (claims.survey_id, claims.expires_at, claims.nonce) == (survey_id, expires, nonce)
    assert tokens.new_nonce() != nonce


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # the signature
        lambda t: t.replace(t.split(".")[1], str(int(t.split(".")[1]) + 1)),  # the expiry
        lambda t: uuid4().hex + t[32:],  # another survey
        lambda t: t.split(".")[0] + ".1." + ".".join(t.split(".")[2:]),
        lambda t: t + ".",
        lambda t: t.replace(".", "-"),
        lambda t: "",
        lambda t: "x" * 1000,
        lambda t: t.upper(),
    ],
)
def test_tampered_tokens_are_refused(mangle):
    token = tokens.make_token(SECRET, uuid4(), datetime.now(UTC) + timedelta(days=3), tokens.new_nonce())
    with pytest.raises(tokens.BadToken):
        tokens.read_token(SECRET, mangle(token))


def test_a_token_signed_with_another_key_is_refused():
    token = tokens.make_token("other-" + "k" * 40, uuid4(), datetime.now(UTC), tokens.new_nonce())
    with pytest.raises(tokens.BadToken):
        tokens.read_token(SECRET, token)


def test_expiry_is_read_not_judged():
    past = datetime(2020, 1, 1, tzinfo=UTC)
    claims = tokens.read_token(SECRET, tokens.make_token(SECRET, uuid4(), past, tokens.new_nonce()))
    assert claims.expires_at == past  # the page says when it expired


def test_targets_and_the_survey_complaint_rule():
    assert [TARGETS[s][0] for s in ("critical", "high", "medium", "low")] == [
        timedelta(hours=4),
        timedelta(hours=8),
        timedelta(hours=24),
        timedelta(hours=72),
    ]
    assert survey_wants_complaint({"contact_me": True}, 5, "")
    assert survey_wants_complaint({}, 2, "late")
    assert not survey_wants_complaint({}, 2, "  ")
    assert not survey_wants_complaint({"contact_me": False}, 3, "fine")


def test_answers_are_typed_and_checked():
    from backend.quality.feedback.survey_page import NOTHING, parse_form, read_answers

    questions = [
        {"key": "overall", "kind": "rating", "score": "overall", "required": False},
        {"key": "ok", "kind": "yes_no", "required": False},
        {"key": "pick", "kind": "choice", "choices": ["a", "b"], "required": False},
        {"key": "say", "kind": "text", "required": False},
    ]
    form = parse_form(b"overall=4&ok=no&pick=b&say=%E5%A5%BD%00+ok&ignored=1")
    answers, errors = read_answers(questions, form)
    assert errors == {} and answers == {"overall": 4, "ok": False, "pick": "b", "say": "好 ok"}
    _, errors = read_answers(questions, parse_form(b"overall=0&pick=c"))
    assert set(errors) == {"overall", "pick"}
    _, errors = read_answers(questions, parse_form(b"say=+++"))
    assert set(errors) == {NOTHING}
