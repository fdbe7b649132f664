"""Building blocks for job tests, through the HTTP API: a customer with a site and an installed ATM, a
procedure with a photo step, a reading step and a key-moment check, a part in the technician's stock,
real images (a photo, a signature) uploaded by their sha256, and a walk of a job to any status.

Demo people (see backend/demo.py): supervisor1 leads tech1–tech4 (team 1), supervisor2 tech5–tech8.
"""

from __future__ import annotations

import hashlib
import io
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from PIL import Image, ImageDraw

STEPS = [
    {"id": "arrive", "title": "Arrival and customer contact", "requires": ["check"], "key_moment": True},
    {"id": "photo", "title": "Dispenser before cleaning", "requires": ["photo"]},
    {
        "id": "ups",
        "title": "UPS battery voltage",
        "requires": ["reading"],
        "reading_unit": "V",
        "reading_min": 12.0,
        "reading_max": 13.8,
        "monitoring_point": True,
    },
    {"id": "extra", "title": "Optional extra clean", "requires": ["check"], "mandatory": False},
]


def ids() -> str:
    return str(uuid4())


def now_iso(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def jpeg_photo(width: int = 800, height: int = 600, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height), (rng.randrange(256), 120, 80))
    draw = ImageDraw.Draw(image)
    for _ in range(30):
        x, y = rng.randrange(width), rng.randrange(height)
        draw.rectangle(
            [x, y, x + 40, y + 30], fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256))
        )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def signature_png(seed: int | None = None) -> bytes:
    """A handwritten-looking stroke on a transparent pad, as signature_pad exports it; a new one on
    every call unless ``seed`` is given (the same image on two sign-offs is refused)."""
    rng = random.Random(seed if seed is not None else uuid4().int)
    image = Image.new("RGBA", (600, 200), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    points = []
    for i in range(120):
        x = 40 + i * 4
        y = 100 + 45 * math.sin(i / 6 + rng.random()) + rng.randrange(-6, 6)
        points.append((x, y))
    draw.line(points, fill=(10, 10, 60, 255), width=4, joint="curve")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def blank_png(width: int = 600, height: int = 200) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (0, 0, 0, 0)).save(out, "PNG")
    return out.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(client, headers: dict, data: bytes, content_type: str) -> str:
    digest = sha(data)
    response = client.put(
        f"/api/sync/v1/blobs/{digest}", content=data, headers={**headers, "Content-Type": content_type}
    )
    assert response.status_code in (200, 201), response.text
    return digest


@dataclass
class World:
    customer: dict
    site: dict
    unit: dict
    procedure: dict
    part_item: dict
    depot: dict
    people: dict[str, str]


def _ok(response, status: int = 201) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def build_world(client, as_role, seeded: dict[str, str], tag: str = "") -> World:
    """A customer, a site with an installed ATM registered as a unit, a published procedure for
    maintenance jobs, and 20 filters in tech1's and tech5's custody."""
    manager = as_role("manager")
    tag = tag or uuid4().hex[:6]
    depot = _ok(
        client.post(
            "/api/inventory/locations",
            headers=manager,
            json={"kind": "depot", "name": f"Depot {tag}", "code": f"DEP-{tag}", "region": "Shanghai East"},
        )
    )
    atm = _ok(
        client.post(
            "/api/inventory/items",
            headers=manager,
            json={"sku": f"ATM-{tag}", "name": "GRG H68N", "kind": "spare_unit"},
        )
    )
    part = _ok(
        client.post(
            "/api/inventory/items",
            headers=manager,
            json={"sku": f"FLT-{tag}", "name": "Dispenser pick filter", "kind": "part"},
        )
    )
    customer = _ok(
        client.post(
            "/api/customers",
            headers=manager,
            json={
                "name": "中国工商银行 ICBC",
                "code": f"ICBC-{tag}",
                "contacts": [{"name": "Ms. Li", "role": "Branch manager", "phone": "+86 21 5555 0101"}],
            },
        )
    )
    site = _ok(
        client.post(
            "/api/sites",
            headers=manager,
            json={
                "customer_id": customer["id"],
                "name": f"ICBC Lujiazui branch {tag}",
                "code": f"SITE-{tag}",
                "address": "上海市浦东新区陆家嘴环路 1000 号",
                "lat": 31.2397,
                "lon": 121.4998,
                "region": "Shanghai East",
            },
        )
    )
    _ok(
        client.post(
            "/api/inventory/ops/receive",
            headers=manager,
            json={
                "move_id": ids(),
                "to_location_id": depot["id"],
                "item_id": atm["id"],
                "assets": [{"serial": f"SN-{tag}"}],
            },
        )
    )
    asset = client.get("/api/inventory/assets", headers=manager, params={"item_id": atm["id"]}).json()[0]
    _ok(
        client.post(
            "/api/inventory/ops/install",
            headers=manager,
            json={
                "move_id": ids(),
                "asset_id": asset["id"],
                "site_location_id": site["location_id"],
            },
        )
    )
    unit = _ok(
        client.post(
            f"/api/sites/{site['id']}/units",
            headers=manager,
            json={"asset_id": asset["id"], "position": "lobby"},
        )
    )
    procedure = _ok(
        client.post(
            "/api/procedures",
            headers=manager,
            json={
                "code": f"PM-{tag}",
                "job_type": "maintenance",
                "name": "ATM preventive maintenance",
                "steps": STEPS,
            },
        )
    )
    _ok(
        client.post(
            "/api/inventory/ops/receive",
            headers=manager,
            json={
                "move_id": ids(),
                "to_location_id": depot["id"],
                "item_id": part["id"],
                "qty": 100,
            },
        )
    )
    for tech in ("tech1", "tech5"):
        _ok(
            client.post(
                "/api/inventory/ops/checkout",
                headers=as_role(tech),
                json={
                    "move_id": ids(),
                    "from_location_id": depot["id"],
                    "item_id": part["id"],
                    "qty": 20,
                },
            )
        )
    return World(customer, site, unit, procedure, part, depot, seeded)


def new_job(
    client, as_role, world: World, *, assignee: str | None = "tech1", by: str = "supervisor1", **fields
) -> dict:
    body = {
        "type": "maintenance",
        "site_id": world.site["id"],
        "unit_id": world.unit["id"],
        "procedure_id": world.procedure["id"],
        "description": "Quarterly preventive maintenance",
        "scheduled_start": now_iso(timedelta(hours=1)),
        "scheduled_end": now_iso(timedelta(hours=3)),
        **fields,
    }
    if assignee:
        body["assignee_id"] = world.people[assignee]
    else:
        body["team_id"] = client.get(
            f"/api/users/{world.people['tech1']}", headers=as_role("manager")
        ).json()["team_id"]
    return _ok(client.post("/api/jobs", headers=as_role(by), json=body))["job"]


def transition(client, headers, job_id: str, to: str, **extra):
    return client.post(f"/api/jobs/{job_id}/transition", headers=headers, json={"to": to, **extra})


def do_steps(client, headers, job_id: str, photo_sha: str) -> None:
    for step_id, body in (
        ("arrive", {"result": "pass"}),
        ("photo", {"result": "pass", "blobs": [photo_sha]}),
        ("ups", {"result": "pass", "value": 13.1}),
    ):
        _ok(client.put(f"/api/jobs/{job_id}/steps/{step_id}", headers=headers, json=body), 200)


def signoff_body(signature_sha: str, accepted: bool = True, **extra) -> dict:
    return {
        "signoff_id": ids(),
        "signer_name": "李女士 Ms. Li",
        "signature_blob": signature_sha,
        "accepted": accepted,
        "rating": 5 if accepted else 2,
        "rating_technical": 5,
        "rating_service": 4,
        "comment": "准时，干净 On time, tidy",
        "signed_at": now_iso(),
        **extra,
    }


def drive(
    client, as_role, world: World, target: str, *, assignee: str = "tech1", by: str = "supervisor1"
) -> dict:
    """A new job walked through the API to ``target``; returns the job as it is then."""
    if target == "new":
        return new_job(client, as_role, world, assignee=None, by=by)
    job = new_job(client, as_role, world, assignee=assignee, by=by)
    tech, lead = as_role(assignee), as_role(by)
    path = {
        "assigned": [],
        "accepted": ["accepted"],
        "en_route": ["accepted", "en_route"],
        "on_site": ["accepted", "en_route", "on_site"],
        "work_done": ["accepted", "en_route", "on_site", "work_done"],
        "incomplete": ["accepted", "en_route", "on_site", "incomplete"],
        "awaiting_approval": ["accepted", "en_route", "on_site", "work_done", "signoff"],
        "disputed": ["accepted", "en_route", "on_site", "work_done", "refuse"],
        "returned": ["accepted", "en_route", "on_site", "work_done", "signoff", "return"],
        "approved": ["accepted", "en_route", "on_site", "work_done", "signoff", "approve"],
        "cancelled": ["cancel"],
    }[target]
    for step in path:
        if step == "work_done":
            photo = upload(client, tech, jpeg_photo(seed=hash(job["id"]) % 1000), "image/jpeg")
            do_steps(client, tech, job["id"], photo)
        if step in ("signoff", "refuse"):
            signature = upload(client, tech, signature_png(), "image/png")
            _ok(
                client.post(
                    f"/api/jobs/{job['id']}/signoff",
                    headers=tech,
                    json=signoff_body(signature, accepted=step == "signoff"),
                )
            )
        elif step in ("approve", "return"):
            _ok(
                client.post(
                    f"/api/jobs/{job['id']}/decision",
                    headers=lead,
                    json={"decision": step, "reason": "" if step == "approve" else "photo is blurred"},
                )
            )
        elif step == "cancel":
            _ok(transition(client, lead, job["id"], "cancelled", reason="customer postponed"), 200)
        else:
            extra = {"reason": "waiting for a part"} if step == "incomplete" else {}
            _ok(transition(client, tech, job["id"], step, **extra), 200)
    final = _ok(client.get(f"/api/jobs/{job['id']}", headers=lead), 200)
    assert final["status"] == target, final
    return final


# --- bad images, for the tests of what the API refuses --------------------------------------------


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed, tiny PNG whose header claims ``width``×``height`` pixels (a decompression bomb's
    shape: a few dozen bytes that would decode to gigabytes)."""
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    pixels = zlib.compress(b"\x00" * (width + 1) * 2)  # the first two rows; the rest is missing
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def dot_png(size: int = 20) -> bytes:
    """A signature pad with one dark dot on it (enough ink to count, too small to be a signature)."""
    image = Image.new("RGBA", (600, 200), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse([290, 90, 290 + size, 90 + size], fill=(10, 10, 60, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def job_state(client, headers: dict, job_id: str) -> dict:
    """What a refused request must leave as it was: the job and its whole record (steps, logs, photos,
    parts, sign-off, approvals) and its history."""
    job = client.get(f"/api/jobs/{job_id}", headers=headers)
    record = client.get(f"/api/jobs/{job_id}/record", headers=headers)
    history = client.get(f"/api/jobs/{job_id}/history", headers=headers)
    for response in (job, record, history):
        assert response.status_code == 200, response.text
    return {"job": job.json(), "record": record.json(), "history": history.json()}
