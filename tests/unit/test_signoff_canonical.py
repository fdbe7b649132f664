"""The customer summary's canonical form (docs/SYNC.md): the worked example's bytes and hash are pinned,
and an independent JavaScript implementation written from the document gives the same bytes."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from backend.jobs.signoff_canonical import (
    JsNumber,
    _dumps,
    canonical_summary,
    ecma_number,
    iso_millis,
    summary_hash,
    text,
)

DATA = Path(__file__).parent / "data"
EXAMPLE = DATA / "customer_summary_example.json"
REFERENCE = DATA / "canonical_reference.mjs"

# The worked example of docs/SYNC.md: change neither without the other.
EXAMPLE_HASH = "519fd1415e15a799529206c86b4943367941b3b5be12654e6315d7d70b224109"
EXAMPLE_CANONICAL = (
    '{"answers":{"accepted":true,"comment":"很好\\tthanks","rating":5,"rating_service":null,'
    '"rating_technical":4,"signature_blob":"a3f1c2d4e5b6a7980112233445566778899aabbccddeeff00112233445566778",'
    '"signed_at":"2026-11-24T00:03:11.123Z","signer_name":"Zoë Wang"},'
    '"attachments":[{"blob":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",'
    '"caption":"Before \\"cleaning\\"","id":"5d4c3b2a-1f0e-4d9c-8b7a-695847362514","step_id":null}],'
    '"format":1,"job":{"arrival_note":"","customer_id":"0a4e6c1b-5d2f-4e8a-b3c7-9f1d2e3a4b5c",'
    '"departure_note":"Café lobby door locked","description":"Quarterly PM, ATM 3 (lobby)",'
    '"findings":"Cassette 2 roller worn; replaced.","id":"6f1c2a9e-0b7d-4c1e-9a51-3d2f8e4b7c10",'
    '"meter_reading":104523.5,"number":"J000123","procedure_id":"2c6a8e3d-7f4b-4a0c-85e9-1b3f4a5c6d7e",'
    '"site_id":"1b5f7d2c-6e3a-4f9b-c4d8-0a2e3f4b5c6d","type":"maintenance","unit_id":null},'
    '"logs":[{"id":"3a2b1c0d-9e8f-4a7b-a6c5-d4e3f2a1b0c9","kind":"reading","minutes":null,'
    '"text":"Line voltage","value":229.99999999999997},{"id":"9e8d7c6b-5a49-4838-a726-150493827160",'
    '"kind":"time","minutes":95,"text":"On site","value":null}],'
    '"parts":[{"asset_id":null,"item_id":"8f7e6d5c-4b3a-4291-8a7f-6e5d4c3b2a19",'
    '"move_id":"7e6d5c4b-3a29-4817-9f6e-5d4c3b2a1908","qty":2,"size":""}],'
    '"steps":[{"blobs":["0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",'
    '"f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f"],"note":"","result":"pass",'
    '"step_id":"s1-photo","value":null},{"blobs":[],"note":"温度正常","result":"pass","step_id":"s2-temp",'
    '"value":0.1}]}'
)


def _example_canonical() -> bytes:
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    answers = {**data["answers"], "signed_at": datetime.fromisoformat(data["answers"]["signed_at"])}
    return canonical_summary(
        data["job"], data["steps"], data["logs"], data["attachments"], data["parts"], answers
    )


def test_a_steps_own_photo_is_not_an_attachment_of_the_summary():
    document = json.loads(_example_canonical())
    # The example's second attachment is s1-photo's own photo: the step's blobs hold it.
    assert [a["id"] for a in document["attachments"]] == ["5d4c3b2a-1f0e-4d9c-8b7a-695847362514"]


def test_worked_example_is_pinned():
    canonical = _example_canonical()
    assert canonical.decode("utf-8") == EXAMPLE_CANONICAL
    assert summary_hash(canonical) == EXAMPLE_HASH


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.1, "0.1"),
        (12.0, "12"),
        (-0.0, "0"),
        (100.0, "100"),
        (-3.25, "-3.25"),
        (1e-6, "0.000001"),
        (1.5e-6, "0.0000015"),
        (1e-7, "1e-7"),
        (2.5e-7, "2.5e-7"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (123456789.125, "123456789.125"),
        (0.1 + 0.2, "0.30000000000000004"),
        (5e-324, "5e-324"),
    ],
)
def test_numbers_as_javascript_writes_them(value, expected):
    assert ecma_number(value) == expected


def test_text_is_trimmed_then_nfc():
    assert text("\ufeff\u3000Cafe\u0301 \u00a0\n") == "Café"
    assert text("a\u200bb") == "a\u200bb"  # a zero-width space is not whitespace, inside or at the ends
    assert text(" 中文\t") == "中文"


def test_signed_at_is_iso_with_milliseconds_in_utc():
    at = datetime(2026, 11, 24, 8, 3, 11, 999999, tzinfo=timezone(timedelta(hours=8)))
    assert iso_millis(at) == "2026-11-24T00:03:11.999Z"
    assert iso_millis(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000Z"


def test_control_characters_are_escaped_as_json_stringify_does():
    assert _dumps('a\x00b\x1f\x7f\u2028"\\') == '"a\\u0000b\\u001f\x7f\u2028\\"\\\\"'


node = shutil.which("node")


@pytest.mark.skipif(node is None, reason="node is not installed")
def test_the_javascript_reference_gives_the_same_bytes():
    out = subprocess.run(
        [node, str(REFERENCE), str(EXAMPLE)], capture_output=True, text=True, check=True, timeout=30
    ).stdout.splitlines()
    assert out == [EXAMPLE_CANONICAL, EXAMPLE_HASH]


@pytest.mark.skipif(node is None, reason="node is not installed")
def test_random_numbers_and_strings_agree_with_javascript(tmp_path):
    rng = random.Random(20261205)
    numbers = [rng.uniform(-1e9, 1e9) for _ in range(150)]
    numbers += [rng.uniform(-1, 1) * 10 ** rng.randint(-12, 9) for _ in range(150)]
    numbers += [round(rng.uniform(-1000, 1000), rng.randint(0, 4)) for _ in range(100)]
    alphabet = "aZ9 \t\n\r\x00\x01\x1c\x1f\x7f\x85\xa0\u1680\u2000\u200a\u200b\u2028\u202f\u3000\ufeff" + (
        '"\\/éE\u0301\u00c5A\u030a中文한\u1100\u1161\U0001f600'
    )
    strings = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(300)]
    values = numbers + strings
    path = tmp_path / "values.json"
    path.write_text(json.dumps(values, ensure_ascii=False), encoding="utf-8")
    out = subprocess.run(
        [node, str(REFERENCE), "--values", str(path)], capture_output=True, text=True, check=True, timeout=30
    ).stdout.split("\n")[:-1]  # not splitlines(): U+2028, U+0085 and U+001C are line breaks to it
    ours = [_dumps(JsNumber(v)) if isinstance(v, float) else _dumps(text(v)) for v in values]
    assert [json.loads(line) for line in out] == ours
