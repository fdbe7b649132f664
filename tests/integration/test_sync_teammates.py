"""A technician's pull names their teammates (issue 15: a hand-over offline names its receiver): the
team's active members' ``user`` records, the same entity as their own, and nothing more of them."""

from __future__ import annotations

from tests.sync_helpers import SyncClient

TEAM1 = ("supervisor1", "tech1", "tech2", "tech3", "tech4")
TEAM2 = ("supervisor2", "tech5", "tech6", "tech7", "tech8")
USER_FIELDS = {"id", "version", "created_at", "updated_at", "username", "display_name", "role", "team_id"}


def _ids(seeded, names):
    return {seeded[name] for name in names}


def test_a_technician_pulls_their_teammates_and_team_moves_carry_them_across(client, as_role, seeded):
    tech1, tech2, tech5 = (SyncClient(client, as_role(n)) for n in ("tech1", "tech2", "tech5"))
    lead1, lead2 = SyncClient(client, as_role("supervisor1")), SyncClient(client, as_role("supervisor2"))
    for phone in (tech1, tech2, tech5, lead1, lead2):
        phone.pull()
    assert tech1.ids_of("user") == _ids(seeded, TEAM1)
    assert tech5.ids_of("user") == _ids(seeded, TEAM2)
    # Supervisors had their teams' users already, themselves included.
    assert _ids(seeded, TEAM1) <= lead1.ids_of("user") and not _ids(seeded, TEAM2) & lead1.ids_of("user")
    mate = tech1.records[("user", seeded["tech2"])]
    assert set(mate) == USER_FIELDS  # no password hash, locale, activity or login details
    assert mate["username"] == "tech2" and mate["role"] == "technician"
    assert set(tech1.records[("user", seeded["tech1"])]) == USER_FIELDS  # the same entity as one's own
    team1, team2 = mate["team_id"], tech5.records[("user", seeded["tech5"])]["team_id"]

    moved = client.patch(f"/api/users/{seeded['tech2']}", headers=as_role("manager"), json={"team_id": team2})
    assert moved.status_code == 200, moved.text
    assert {"entity": "user", "id": seeded["tech2"], "op": "del"} in tech1.pull()
    assert tech1.ids_of("user") == _ids(seeded, TEAM1) - {seeded["tech2"]}
    tech5.pull()
    assert tech5.ids_of("user") == _ids(seeded, TEAM2) | {seeded["tech2"]}
    assert tech5.records[("user", seeded["tech2"])]["team_id"] == team2
    # The supervisors follow too: the old team's lead drops them, the new one's gets them.
    assert {"entity": "user", "id": seeded["tech2"], "op": "del"} in lead1.pull()
    lead2.pull()
    assert seeded["tech2"] in lead2.ids_of("user") and seeded["tech2"] not in lead1.ids_of("user")
    # The one who moved starts over with the new team's people (their pull tags changed).
    page = tech2.pull_raw(tech2.cursor).json()
    assert page["reset"] is True
    tech2.cursor = None
    tech2.pull()
    assert tech2.ids_of("user") == _ids(seeded, TEAM2) | {seeded["tech2"]}
    assert team1 != team2

    # A deactivated colleague is no one to hand a tool to: their teammates' phones drop them; their
    # supervisor still sees them.
    gone = client.post(f"/api/users/{seeded['tech3']}/deactivate", headers=as_role("manager"))
    assert gone.status_code == 200, gone.text
    assert {"entity": "user", "id": seeded["tech3"], "op": "del"} in tech1.pull()
    lead1.pull()
    assert seeded["tech3"] in lead1.ids_of("user")
    back = client.post(f"/api/users/{seeded['tech3']}/activate", headers=as_role("manager"))
    assert back.status_code == 200, back.text
    tech1.pull()
    assert seeded["tech3"] in tech1.ids_of("user")


def test_a_fresh_pull_and_an_incremental_one_agree_on_the_team(client, as_role, seeded):
    tech1 = SyncClient(client, as_role("tech1"))
    tech1.pull()
    renamed = client.patch(
        f"/api/users/{seeded['tech4']}",
        headers=as_role("manager"),
        json={"display_name": "Renamed Colleague"},
    )
    assert renamed.status_code == 200, renamed.text
    tech1.pull()
    fresh = SyncClient(client, as_role("tech1"))
    fresh.pull()
    users = {k: v for k, v in tech1.records.items() if k[0] == "user"}
    assert users == {k: v for k, v in fresh.records.items() if k[0] == "user"}
    assert users[("user", seeded["tech4"])]["display_name"] == "Renamed Colleague"
