"""SYNC.md 1.1: the phone's own hash of what the customer saw (``client_hash`` on ``job.signoff``), and
the technician's self-assessment offline (``job.self_assess``).

The phone's hash is computed here from nothing but what a phone has: the records its pull gave it, the
parts it recorded itself, and the customer's answers; the server recomputes it over its own rows."""

from __future__ import annotations

from datetime import datetime

import pytest
from click.testing import CliRunner

from backend.cli import main
from backend.jobs.signoff_canonical import canonical_summary, summary_hash
from backend.settings import get_settings
from tests.jobs_helpers import (
    build_world,
    drive,
    ids,
    jpeg_photo,
    signature_png,
    upload,
)
from tests.sync_helpers import SyncClient


def _ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json()


def _work_offline(client, as_role, world, job_id):
    """tech1's phone does the job (steps, a note, a photo, a part) and pulls; returns the phone and the
    parts it recorded (as a phone keeps them: the args of its own ``stock.consume``)."""
    tech = as_role("tech1")
    phone = SyncClient(client, tech)
    photo = upload(client, tech, jpeg_photo(seed=11), "image/jpeg")
    consume = {"move_id": ids(), "job_id": job_id, "item_id": world.part_item["id"], "qty": 2}
    out = phone.push(
        [
            phone.mutation("job.step", job_id=job_id, step_id="arrive", result="pass", note="  门已开  "),
            phone.mutation("job.step", job_id=job_id, step_id="photo", result="pass", blobs=[photo]),
            phone.mutation("job.step", job_id=job_id, step_id="ups", result="pass", value=13.1),
            phone.mutation("job.log", log_id=ids(), job_id=job_id, kind="time", text="On site ", minutes=75),
            phone.mutation(
                "job.log", log_id=ids(), job_id=job_id, kind="reading", text="Line voltage", value=229.5
            ),
            phone.mutation("job.attach", attachment_id=ids(), job_id=job_id, blob=photo, caption="Before\n"),
            phone.mutation("stock.consume", **consume),
            phone.mutation("job.transition", job_id=job_id, to="work_done"),
        ]
    )
    assert {r["status"] for r in out["results"]} == {"applied"}, out
    phone.pull()
    return phone, [{**consume, "asset_id": None, "size": ""}]


def _answers(client, as_role, **overrides):
    signature = upload(client, as_role("tech1"), signature_png(), "image/png")
    return {
        "signoff_id": ids(),
        "signer_name": "李女士 Ms. Li ",
        "signature_blob": signature,
        "accepted": True,
        "rating": 5,
        "rating_technical": 4,
        "rating_service": None,
        "comment": "准时，干净\nOn time, tidy\u00a0",
        "signed_at": "2026-12-05T09:30:15.250+08:00",
        **overrides,
    }


def _phone_hash(phone: SyncClient, job_id: str, parts, answers) -> str:
    """What the phone hashes: its pulled job and its children, its own parts, the customer's answers."""
    children = {
        entity: [r for (kind, _id), r in phone.records.items() if kind == entity and r["job_id"] == job_id]
        for entity in ("job_step", "job_log", "attachment")
    }
    shown = {**answers, "signed_at": datetime.fromisoformat(answers["signed_at"])}
    canonical = canonical_summary(
        phone.records[("job", job_id)],
        children["job_step"],
        children["job_log"],
        children["attachment"],
        parts,
        shown,
    )
    return summary_hash(canonical)


def _signoff_views(client, as_role, job_id):
    lead = as_role("supervisor1")
    record = _ok(client.get(f"/api/jobs/{job_id}/record", headers=lead))
    verify = _ok(client.get(f"/api/jobs/{job_id}/signoff/verify", headers=lead))
    report = client.get(f"/api/jobs/{job_id}/report", headers=lead)
    assert report.status_code == 200, report.text
    return record["signoff"], verify, report.text


def _cli_summary(monkeypatch, settings, job_id) -> list[str]:
    """``fieldq sync summary <job>``: the server's canonical form of the signed job, and its hash."""
    monkeypatch.setenv("FIELDQ_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("FIELDQ_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FIELDQ_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("FIELDQ_ENV", "dev")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["sync", "summary", job_id], catch_exceptions=False)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return result.output.split("\n")[:-1]


def test_a_matching_client_hash_is_stored_and_shown_everywhere(
    client, as_role, seeded, settings, monkeypatch
):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "on_site")
    phone, parts = _work_offline(client, as_role, world, job["id"])
    answers = _answers(client, as_role)
    client_hash = _phone_hash(phone, job["id"], parts, answers)

    signoff = phone.mutation("job.signoff", job_id=job["id"], client_hash=client_hash, **answers)
    result = phone.push([signoff])["results"][0]
    assert result["status"] == "applied" and "exception_id" not in result, result
    phone.pull()
    [pulled] = [r for (kind, _id), r in phone.records.items() if kind == "signoff"]
    assert (pulled["client_hash"], pulled["summary_hash"], pulled["hash_match"]) == (
        client_hash,
        client_hash,
        True,
    )
    read, verify, report = _signoff_views(client, as_role, job["id"])
    assert (read["client_hash"], read["hash_match"]) == (client_hash, True)
    assert (verify["client_hash"], verify["summary_hash"], verify["hash_match"]) == (
        client_hash,
        client_hash,
        True,
    )
    assert verify["valid"] is True
    assert client_hash in report and "Hashes match" in report
    pdf = client.get(f"/api/jobs/{job['id']}/report.pdf", headers=as_role("supervisor1"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    exceptions = _ok(
        client.get("/api/exceptions", headers=as_role("manager"), params={"kind": "signoff_mismatch"})
    )
    assert exceptions["total"] == 0
    # The server prints the canonical form a phone can compare its bytes with.
    canonical, printed_hash = _cli_summary(monkeypatch, settings, job["id"])
    assert printed_hash == client_hash == summary_hash(canonical.encode("utf-8"))
    assert '"signer_name":"李女士 Ms. Li"' in canonical and '"value":13.1' in canonical


def test_a_whole_offline_visit_in_one_push_matches(client, as_role, seeded):
    """The phone's hash from its own records (what it recorded, not yet pulled back), pushed in one
    batch with the work it covers: the server's rows at the sign-off are the same."""
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "en_route")
    tech = as_role("tech1")
    phone = SyncClient(client, tech)
    phone.pull()
    local_job = phone.records[("job", job["id"])]
    photo = upload(client, tech, jpeg_photo(seed=12), "image/jpeg")
    steps = [
        {"step_id": "arrive", "result": "pass", "value": None, "note": "", "blobs": []},
        {"step_id": "photo", "result": "pass", "value": None, "note": "", "blobs": [photo]},
        {"step_id": "ups", "result": "pass", "value": 0.1 + 0.2, "note": "Cafe\u0301 ", "blobs": []},
    ]
    logs = [{"id": ids(), "kind": "reading", "text": "Volts", "minutes": None, "value": 1e-7}]
    attachments = [{"id": ids(), "blob": photo, "step_id": "photo", "caption": " after "}]
    parts = [
        {"move_id": ids(), "item_id": world.part_item["id"], "asset_id": None, "size": "", "qty": 3},
        {"move_id": ids(), "item_id": world.part_item["id"], "asset_id": None, "size": "", "qty": 1},
    ]
    answers = _answers(client, as_role, rating_service=5, comment="")
    shown = {**answers, "signed_at": datetime.fromisoformat(answers["signed_at"])}
    client_hash = summary_hash(canonical_summary(local_job, steps, logs, attachments, parts, shown))
    batch = [
        phone.mutation("job.transition", job_id=job["id"], to="on_site"),
        *(
            phone.mutation("job.step", job_id=job["id"], **{k: v for k, v in s.items() if v is not None})
            for s in steps
        ),
        *(
            phone.mutation(
                "job.log", log_id=g["id"], job_id=job["id"], kind=g["kind"], text=g["text"], value=g["value"]
            )
            for g in logs
        ),
        *(
            phone.mutation(
                "job.attach",
                attachment_id=a["id"],
                job_id=job["id"],
                blob=a["blob"],
                step_id=a["step_id"],
                caption=a["caption"],
            )
            for a in attachments
        ),
        *(
            phone.mutation(
                "stock.consume", move_id=p["move_id"], job_id=job["id"], item_id=p["item_id"], qty=p["qty"]
            )
            for p in parts
        ),
        phone.mutation("job.transition", job_id=job["id"], to="work_done"),
        phone.mutation("job.signoff", job_id=job["id"], client_hash=client_hash, **answers),
    ]
    out = phone.push(batch)
    assert {r["status"] for r in out["results"]} == {"applied"}, out["results"]
    read, verify, _report = _signoff_views(client, as_role, job["id"])
    assert (read["client_hash"], read["summary_hash"], read["hash_match"]) == (client_hash, client_hash, True)
    assert verify["hash_match"] is True


def test_a_wrong_client_hash_is_kept_and_raises_an_exception(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "on_site")
    phone, parts = _work_offline(client, as_role, world, job["id"])
    answers = _answers(client, as_role)
    right = _phone_hash(phone, job["id"], parts, answers)
    # The phone showed the customer another rating than it sent (or the server's record differs).
    wrong = _phone_hash(phone, job["id"], parts, {**answers, "rating": 4})
    assert wrong != right

    signoff = phone.mutation("job.signoff", job_id=job["id"], client_hash=wrong, **answers)
    result = phone.push([signoff])["results"][0]
    assert result["status"] == "merged" and result["exception_id"], result
    state = _ok(client.get(f"/api/jobs/{job['id']}", headers=as_role("supervisor1")))
    assert state["status"] == "awaiting_approval"  # the sign-off was kept
    read, verify, report = _signoff_views(client, as_role, job["id"])
    assert (read["client_hash"], read["hash_match"]) == (wrong, False)
    assert (verify["summary_hash"], verify["hash_match"]) == (right, False)
    assert "Hashes do not match" in report
    listed = _ok(
        client.get("/api/exceptions", headers=as_role("supervisor1"), params={"kind": "signoff_mismatch"})
    )
    [exception] = listed["items"]
    assert exception["id"] == result["exception_id"] and exception["job_id"] == job["id"]
    assert exception["user_id"] == seeded["tech1"]
    assert wrong in exception["message"] and right in exception["message"]
    # A replay is a duplicate: no second exception.
    assert phone.push([signoff])["results"][0]["status"] == "duplicate"
    restarted = SyncClient(client, as_role("tech1"))
    again = restarted.push([restarted.mutation("job.signoff", **signoff["args"])])["results"][0]
    assert again["status"] == "applied"  # the same signoff_id answers with the sign-off it made
    listed = _ok(
        client.get("/api/exceptions", headers=as_role("manager"), params={"kind": "signoff_mismatch"})
    )
    assert listed["total"] == 1


def test_without_client_hash_hash_match_is_null_and_rest_takes_it_too(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "on_site")
    phone, _parts = _work_offline(client, as_role, world, job["id"])
    answers = _answers(client, as_role)
    result = phone.push([phone.mutation("job.signoff", job_id=job["id"], **answers)])["results"][0]
    assert result["status"] == "applied"
    read, verify, report = _signoff_views(client, as_role, job["id"])
    assert (read["client_hash"], read["hash_match"]) == (None, None)
    assert verify["hash_match"] is None and len(verify["summary_hash"]) == 64
    assert "sent no hash" in report

    # REST takes client_hash as well, with the same rules.
    other = drive(client, as_role, world, "work_done")
    body = {**_answers(client, as_role), "client_hash": "ab" * 32}
    made = client.post(f"/api/jobs/{other['id']}/signoff", headers=as_role("tech1"), json=body)
    assert made.status_code == 201, made.text
    assert (made.json()["client_hash"], made.json()["hash_match"]) == ("ab" * 32, False)
    bad = client.post(
        f"/api/jobs/{other['id']}/signoff", headers=as_role("tech1"), json={**body, "client_hash": "AB" * 32}
    )
    assert bad.status_code == 400 and bad.json()["field"] == "client_hash"


@pytest.mark.parametrize(
    ("client_hash", "extra", "field"),
    [
        ("AB" * 32, {}, "client_hash"),
        ("ab" * 31, {}, "client_hash"),
        ("ab" * 33, {}, "client_hash"),
        ("g" * 64, {}, "client_hash"),
        (12345, {}, "client_hash"),
        ("ab" * 32, {"comment": "nice\u0000"}, "comment"),
        ("ab" * 32, {"rating": 10**30}, "rating"),
        ("ab" * 32, {"signer_name": "a\u0000b"}, "signer_name"),
    ],
)
def test_malformed_sign_offs_are_rejected_naming_the_field(
    client, as_role, seeded, client_hash, extra, field
):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "work_done")
    phone = SyncClient(client, as_role("tech1"))
    answers = _answers(client, as_role, **extra)
    result = phone.push(
        [phone.mutation("job.signoff", job_id=job["id"], client_hash=client_hash, **answers)]
    )["results"][0]
    assert (result["status"], result["code"], result["field"]) == ("rejected", "INVALID_ARGS", field), result
    assert result["exception_id"]
    state = _ok(client.get(f"/api/jobs/{job['id']}/record", headers=as_role("supervisor1")))
    assert state["signoff"] is None and state["job"]["status"] == "work_done"


# --- job.self_assess ------------------------------------------------------------------------------------


def _evaluations(client, as_role, job_id):
    return _ok(
        client.get(
            "/api/quality/evaluations",
            headers=as_role("quality"),
            params={"job_id": job_id, "source": "self"},
        )
    )["items"]


def test_a_self_assessment_through_push_is_made_once(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "work_done")
    phone = SyncClient(client, as_role("tech1"))
    assessment_id = ids()
    assess = phone.mutation(
        "job.self_assess",
        assessment_id=assessment_id,
        job_id=job["id"],
        overall=4,
        technical=5,
        service=3,
        comment="Belt was hard to reach\n",
    )
    assert phone.push([assess])["results"] == [{"id": assess["id"], "status": "applied"}]
    [made] = _evaluations(client, as_role, job["id"])
    assert (made["id"], made["overall"], made["technical"], made["service"], made["comment"]) == (
        assessment_id,
        4,
        5,
        3,
        "Belt was hard to reach",
    )
    # Replays: the same push, and the same assessment from a phone that started over.
    assert phone.push([assess])["results"][0]["status"] == "duplicate"
    restarted = SyncClient(client, as_role("tech1"))
    assert restarted.push([restarted.mutation("job.self_assess", **assess["args"])])["results"][0][
        "status"
    ] == ("applied")
    assert len(_evaluations(client, as_role, job["id"])) == 1

    # A second assessment of the job is rejected with the REST endpoint's code, and kept.
    second = phone.mutation("job.self_assess", assessment_id=ids(), job_id=job["id"], overall=5)
    result = phone.push([second])["results"][0]
    assert (result["status"], result["code"]) == ("rejected", "ALREADY_ASSESSED"), result
    kept = _ok(client.get("/api/exceptions", headers=as_role("supervisor1"), params={"kind": "rejected"}))
    assert result["exception_id"] in {e["id"] for e in kept["items"]}
    rest = client.post(
        f"/api/jobs/{job['id']}/self-assessment", headers=as_role("tech1"), json={"overall": 5}
    )
    assert rest.status_code == 409 and rest.json()["code"] == "ALREADY_ASSESSED"
    assert len(_evaluations(client, as_role, job["id"])) == 1

    # Its id on another job is taken.
    other = drive(client, as_role, world, "work_done")
    taken = phone.push(
        [phone.mutation("job.self_assess", assessment_id=assessment_id, job_id=other["id"], overall=3)]
    )
    assert taken["results"][0]["code"] == "ID_TAKEN"


def test_self_assessments_refused_naming_the_field_and_writing_nothing(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "work_done")
    early = drive(client, as_role, world, "on_site")
    theirs = drive(client, as_role, world, "work_done", assignee="tech5", by="supervisor2")
    phone = SyncClient(client, as_role("tech1"))
    cases = [
        ({"overall": 6}, "INVALID_ARGS", "overall"),
        ({"overall": 0}, "INVALID_ARGS", "overall"),
        ({"overall": 10**30}, "INVALID_ARGS", "overall"),
        ({"overall": 4, "technical": 2**63}, "INVALID_ARGS", "technical"),
        ({"overall": 4, "comment": "ok\u0000"}, "INVALID_ARGS", "comment"),
        ({"overall": 4, "comment": "x" * 4001}, "INVALID_ARGS", "comment"),
        ({"overall": 4, "assessment_id": "not-a-uuid"}, "INVALID_ARGS", "assessment_id"),
        ({"overall": 4, "job_id": theirs["id"]}, "FORBIDDEN", "job_id"),
        ({"overall": 4, "job_id": early["id"]}, "INVALID_TRANSITION", "job_id"),
        ({"overall": 4, "colour": "red"}, "INVALID_ARGS", "colour"),
    ]
    for extra, code, field in cases:
        args = {"assessment_id": ids(), "job_id": job["id"], **extra}
        result = phone.push([phone.mutation("job.self_assess", **args)])["results"][0]
        assert (result["status"], result["code"], result.get("field")) == ("rejected", code, field), (
            extra,
            result,
        )
    rest = client.post(
        f"/api/jobs/{job['id']}/self-assessment",
        headers=as_role("tech1"),
        json={"overall": 4, "comment": "a\u0000"},
    )
    assert rest.status_code == 400 and rest.json()["field"] == "comment", rest.text
    for job_id in (job["id"], early["id"], theirs["id"]):
        assert _evaluations(client, as_role, job_id) == []
