from __future__ import annotations

from backend.errors import TooManyRequests, _field_from_detail, _looks_like_decode_error, error_responses


def test_field_names_come_from_msgspec_messages_and_paths():
    assert (
        _field_from_detail({"message": "Object contains unknown field `pasword`", "key": None}) == "pasword"
    )
    assert _field_from_detail({"message": "Object missing required field `password`"}) == "password"
    assert _field_from_detail({"message": "Expected `str`, got `int`", "key": "$.username"}) == "username"
    assert _field_from_detail({"message": "Expected `str`", "key": "$.items[0].name"}) == "items[0].name"
    assert _field_from_detail({"message": "bad"}) is None


def test_decode_errors_are_recognised():
    assert _looks_like_decode_error("Input data was truncated")
    assert _looks_like_decode_error("JSON is malformed: invalid character (byte 0)")
    assert not _looks_like_decode_error("Object missing required field `x`")


def test_retry_after_is_at_least_one_second():
    assert TooManyRequests("slow down", retry_after=0).headers() == {"Retry-After": "1"}


def test_error_responses_always_document_400():
    assert sorted(error_responses(401, 403)) == [400, 401, 403]
