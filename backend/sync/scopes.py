"""Who may pull each change (SYNC.md, Pull, Scope).

Every feed row gets scope tags when its transaction commits:

- ``all``: the catalog (items, procedures, teams) and the depot and repair locations;
- ``u:<user>``: a technician's own records (their profile, the jobs assigned to them and everything
  hanging off those jobs, the stock and custody of their person and vehicle, the hand-overs they give
  or receive until 30 days after they were decided, their open exceptions);
- ``t:<team>``: the same for the whole team, read by the team's supervisors;
- ``m:<team>``: the team's active members' ``user`` records, read by the team's technicians (a hand-over
  offline names its receiver, so the phone knows its colleagues by name).

Quality and managers see everything and read the feed without tags.

A change that takes a record out of a scope (a job reassigned, a tool returned to the depot, an
exception resolved) is tagged ``del`` for the scope it left, so that scope's phones drop it. A job
entering or leaving a scope carries its children along: its steps, logs, attachments, sign-off and
approvals are re-announced (put or del) for that scope, and its customer, site and unit are
announced to whoever now has the job. The tags are computed from the rows as committed, with one
query per kind of row, not one per change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from sqlalchemy import Table, func, insert, inspect, select
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from backend.db import SyncedEntity
from backend.sync.models import SyncChange, SyncChangeScope

ALL = "all"
CHUNK = 500

JOB_CHILDREN = ("job_step", "job_log", "attachment", "signoff", "approval")
JOB_REFERENCES = {"customer": "customer_id", "site": "site_id", "unit": "unit_id"}
LOCATION_CHILDREN = ("asset", "balance")
# Locations everyone may return things to.
SHARED_LOCATION_KINDS = frozenset({"depot", "repair"})
CUSTODY_LOCATION_KINDS = frozenset({"person", "vehicle"})

# The columns a row's tags are computed from. An update that changes one of them may move the row
# between scopes; the recorder keeps their values from before the transaction for such rows.
SCOPE_COLUMNS: dict[str, tuple[str, ...]] = {
    "user": ("team_id", "is_active"),
    "job": ("assignee_id", "team_id", "customer_id", "site_id", "unit_id"),
    **{child: ("job_id",) for child in JOB_CHILDREN},
    "location": ("kind", "user_id"),
    "asset": ("location_id",),
    "balance": ("location_id",),
    "sync_exception": ("status", "user_id", "team_id"),
    "quality_report": ("reported_by_id", "team_id"),
    "handover": ("from_user_id", "to_user_id", "archived_at"),
}
MOVABLE = {
    # A user who changes teams (or is deactivated) leaves the old team's scopes.
    "user": ("team_id", "is_active"),
    "job": ("assignee_id", "team_id"),
    "asset": ("location_id",),
    "location": ("user_id",),
    "sync_exception": ("status",),
    # Archived 30 days after it was decided: it leaves both people's and their teams' scopes.
    "handover": ("archived_at",),
}
CATALOG = frozenset({"team", "item", "procedure"})


def user_scope(user_id: UUID | str) -> str:
    return f"u:{user_id}"


def team_scope(team_id: UUID | str) -> str:
    return f"t:{team_id}"


def members_scope(team_id: UUID | str) -> str:
    return f"m:{team_id}"


@lru_cache(maxsize=1)
def entity_tables() -> dict[str, Table]:
    tables: dict[str, Table] = {}
    for mapper in SQLModel._sa_registry.mappers:
        cls = mapper.class_
        if issubclass(cls, SyncedEntity) and cls.__entity_name__:
            tables[cls.__entity_name__] = mapper.local_table
    return tables


def _chunks(values: list[Any]) -> Iterable[list[Any]]:
    for first in range(0, len(values), CHUNK):
        yield values[first : first + CHUNK]


class ScopeResolver:
    """Computes scope tags for rows, batching the lookups (jobs, locations, users' teams) it needs."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._job_tags: dict[UUID, frozenset[str]] = {}
        self._location_tags: dict[UUID, frozenset[str]] = {}
        self._user_team: dict[UUID, UUID | None] = {}

    # --- lookups ---------------------------------------------------------------------------------------

    def columns(self, entity: str, ids: Iterable[UUID], names: Iterable[str]) -> dict[UUID, dict[str, Any]]:
        table = entity_tables()[entity]
        wanted = [table.c.id, *(table.c[name] for name in names)]
        found: dict[UUID, dict[str, Any]] = {}
        for chunk in _chunks(list(set(ids))):
            for row in self.connection.execute(select(*wanted).where(table.c.id.in_(chunk))):
                found[row.id] = dict(row._mapping)
        return found

    def _load_user_teams(self, user_ids: Iterable[UUID]) -> None:
        missing = [u for u in set(user_ids) if u is not None and u not in self._user_team]
        if missing:
            for user_id, row in self.columns("user", missing, ("team_id",)).items():
                self._user_team[user_id] = row["team_id"]

    def job_tags(self, job_ids: Iterable[UUID]) -> dict[UUID, frozenset[str]]:
        missing = [j for j in set(job_ids) if j is not None and j not in self._job_tags]
        if missing:
            rows = self.columns("job", missing, ("assignee_id", "team_id"))
            for job_id in missing:
                self._job_tags[job_id] = self._tags_of_job(rows.get(job_id))
        return self._job_tags

    def location_tags(self, location_ids: Iterable[UUID]) -> dict[UUID, frozenset[str]]:
        missing = [x for x in set(location_ids) if x is not None and x not in self._location_tags]
        if missing:
            rows = self.columns("location", missing, ("kind", "user_id"))
            self._load_user_teams(r["user_id"] for r in rows.values())
            for location_id in missing:
                self._location_tags[location_id] = self._tags_of_location(rows.get(location_id))
        return self._location_tags

    # --- tags of one row ---------------------------------------------------------------------------------

    @staticmethod
    def _tags_of_job(row: dict[str, Any] | None) -> frozenset[str]:
        if row is None:
            return frozenset()
        tags = set()
        if row.get("assignee_id"):
            tags.add(user_scope(row["assignee_id"]))
        if row.get("team_id"):
            tags.add(team_scope(row["team_id"]))
        return frozenset(tags)

    def _tags_of_location(self, row: dict[str, Any] | None) -> frozenset[str]:
        if row is None:
            return frozenset()
        if row["kind"] in SHARED_LOCATION_KINDS:
            return frozenset({ALL})
        if row["kind"] in CUSTODY_LOCATION_KINDS and row.get("user_id"):
            tags = {user_scope(row["user_id"])}
            team = self._user_team.get(row["user_id"])
            if team:
                tags.add(team_scope(team))
            return frozenset(tags)
        return frozenset()

    @staticmethod
    def _tags_of_user(user_id: UUID, row: dict[str, Any]) -> frozenset[str]:
        """Themselves, their team's supervisors, and (while active) their teammates."""
        tags = {user_scope(user_id)}
        team = row.get("team_id")
        if team:
            tags.add(team_scope(team))
            # A deactivated user is no one to hand a tool to: their teammates' phones drop them.
            if row.get("is_active", True):
                tags.add(members_scope(team))
        return frozenset(tags)

    def _tags_of_handover(self, row: dict[str, Any]) -> frozenset[str]:
        """Both people and their teams, until it is archived (30 days after it was decided)."""
        if row.get("archived_at") is not None:
            return frozenset()
        tags = set()
        for user_id in (row["from_user_id"], row["to_user_id"]):
            tags.add(user_scope(user_id))
            team = self._user_team.get(user_id)
            if team:
                tags.add(team_scope(team))
        return frozenset(tags)

    def tags(self, entity: str, rows: dict[UUID, dict[str, Any]]) -> dict[UUID, frozenset[str]]:
        """Tags of each row (``rows`` maps id to at least the entity's ``SCOPE_COLUMNS``)."""
        if entity in CATALOG:
            return {row_id: frozenset({ALL}) for row_id in rows}
        if entity == "user":
            return {row_id: self._tags_of_user(row_id, row) for row_id, row in rows.items()}
        if entity == "job":
            return {row_id: self._tags_of_job(row) for row_id, row in rows.items()}
        if entity in JOB_CHILDREN:
            by_job = self.job_tags(row["job_id"] for row in rows.values())
            return {row_id: by_job.get(row["job_id"], frozenset()) for row_id, row in rows.items()}
        if entity == "location":
            self._load_user_teams(row.get("user_id") for row in rows.values())
            return {row_id: self._tags_of_location(row) for row_id, row in rows.items()}
        if entity in LOCATION_CHILDREN:
            by_location = self.location_tags(row["location_id"] for row in rows.values())
            return {row_id: by_location.get(row["location_id"], frozenset()) for row_id, row in rows.items()}
        if entity == "sync_exception":
            tagged = {}
            for row_id, row in rows.items():
                tags = set()
                if row.get("status") == "open":
                    if row.get("user_id"):
                        tags.add(user_scope(row["user_id"]))
                    if row.get("team_id"):
                        tags.add(team_scope(row["team_id"]))
                tagged[row_id] = frozenset(tags)
            return tagged
        if entity == "quality_report":
            return {
                row_id: frozenset(
                    {
                        user_scope(row["reported_by_id"]),
                        *([team_scope(row["team_id"])] if row["team_id"] else []),
                    }
                )
                for row_id, row in rows.items()
            }
        if entity == "handover":
            self._load_user_teams(
                user for row in rows.values() for user in (row["from_user_id"], row["to_user_id"])
            )
            return {row_id: self._tags_of_handover(row) for row_id, row in rows.items()}
        if entity in JOB_REFERENCES:
            return self._tags_through_jobs(entity, list(rows))
        return {row_id: frozenset() for row_id in rows}

    def _tags_through_jobs(self, entity: str, ids: list[UUID]) -> dict[UUID, frozenset[str]]:
        """A customer, site or unit is seen by whoever has a job there."""
        job = entity_tables()["job"]
        column = job.c[JOB_REFERENCES[entity]]
        tags: dict[UUID, set[str]] = {row_id: set() for row_id in ids}
        for chunk in _chunks(ids):
            statement = select(column, job.c.assignee_id, job.c.team_id).where(column.in_(chunk)).distinct()
            for row in self.connection.execute(statement):
                tags[row[0]] |= self._tags_of_job({"assignee_id": row[1], "team_id": row[2]})
        return {row_id: frozenset(t) for row_id, t in tags.items()}


def tag_changes(
    connection: Connection,
    pending: list[dict[str, Any]],
    before: dict[tuple[str, UUID], dict[str, Any]],
) -> list[tuple[dict[str, Any], list[tuple[str, str]]]]:
    """The feed rows to write for a transaction's ``pending`` changes, each with its (scope, op) tags,
    plus the rows that carry a moved job's (or location's) children into or out of scopes.

    ``before`` holds, for rows that existed before the transaction and may move between scopes, their
    scope columns as they were; and for deleted rows, their last values."""
    resolver = ScopeResolver(connection)
    puts: dict[str, set[UUID]] = defaultdict(set)
    for change in pending:
        if change["op"] == "put":
            puts[change["entity"]].add(change["entity_id"])
    now_rows: dict[str, dict[UUID, dict[str, Any]]] = {}
    now_tags: dict[str, dict[UUID, frozenset[str]]] = {}
    for entity, ids in puts.items():
        columns = SCOPE_COLUMNS.get(entity, ())
        now_rows[entity] = resolver.columns(entity, ids, columns) if columns else {i: {} for i in ids}
        now_tags[entity] = resolver.tags(entity, now_rows[entity])

    out: list[tuple[dict[str, Any], list[tuple[str, str]]]] = []
    # (entity, id) of moved rows -> (entered scopes, left scopes)
    moved: dict[tuple[str, UUID], tuple[frozenset[str], frozenset[str]]] = {}
    # Moved rows that are new in this transaction: their children can only be new too, with rows of
    # their own, so there is nothing to look up for them.
    created: set[tuple[str, UUID]] = set()
    for change in pending:
        entity, entity_id = change["entity"], change["entity_id"]
        key = (entity, entity_id)
        if change["op"] == "del":
            last = before.get(key)
            tags = resolver.tags(entity, {entity_id: last}).get(entity_id) if last else None
            out.append((change, [(tag, "del") for tag in sorted(tags or {ALL})]))
            continue
        tags = now_tags.get(entity, {}).get(entity_id, frozenset())
        ops = [(tag, "put") for tag in sorted(tags)]
        if entity in MOVABLE:
            earlier = before.get(key)
            old = frozenset()
            if earlier is not None:
                row = {**now_rows[entity].get(entity_id, {}), **earlier}
                old = resolver.tags(entity, {entity_id: row})[entity_id]
            ops += [(tag, "del") for tag in sorted(old - tags)]
            if entity in ("job", "location") and (tags != old):
                moved[key] = (tags - old, old - tags)
                if earlier is None:
                    created.add(key)
        out.append((change, ops))

    if moved:
        # Children written in this same transaction have their own row, tagged with the job's scopes
        # now: it only needs the deletions for the scopes the job left, not a second row.
        own = {(change["entity"], change["entity_id"]): ops for change, ops in out if change["op"] == "put"}
        carried = _carried_along(
            resolver, moved, created, now_rows, pending[0]["changed_at"] if pending else None
        )
        for row, ops in carried:
            mine = own.get((row["entity"], row["entity_id"]))
            if mine is None:
                out.append((row, ops))
            else:
                mine.extend(op for op in ops if op[1] == "del" and op not in mine)
    return out


def _carried_along(
    resolver: ScopeResolver,
    moved: dict[tuple[str, UUID], tuple[frozenset[str], frozenset[str]]],
    created: set[tuple[str, UUID]],
    now_rows: dict[str, dict[UUID, dict[str, Any]]],
    changed_at: Any,
) -> list[tuple[dict[str, Any], list[tuple[str, str]]]]:
    tables = entity_tables()
    carried = []

    def announce(
        entity: str,
        parent_entity: str,
        parent_column: str,
        parents: dict[UUID, tuple[frozenset[str], frozenset[str]]],
    ):
        table = tables[entity]
        ids = [parent for parent in parents if (parent_entity, parent) not in created]
        for chunk in _chunks(ids):
            statement = select(table.c.id, table.c.version, table.c[parent_column]).where(
                table.c[parent_column].in_(chunk)
            )
            for row in resolver.connection.execute(statement):
                entered, left = parents[row[2]]
                ops = [(t, "put") for t in sorted(entered)] + [(t, "del") for t in sorted(left)]
                if ops:
                    carried.append((_feed_row(entity, row.id, row.version, changed_at), ops))

    jobs = {entity_id: scopes for (entity, entity_id), scopes in moved.items() if entity == "job"}
    locations = {entity_id: scopes for (entity, entity_id), scopes in moved.items() if entity == "location"}
    if jobs:
        for child in JOB_CHILDREN:
            announce(child, "job", "job_id", jobs)
        # Whoever now has the job needs its customer, site and unit. Leaving a job does not take them
        # away: the technician may have other jobs there, and they are reference data, not work.
        for entity, column in JOB_REFERENCES.items():
            targets: dict[UUID, frozenset[str]] = defaultdict(frozenset)
            for job_id, (entered, _left) in jobs.items():
                reference = now_rows["job"].get(job_id, {}).get(column)
                if reference is not None and entered:
                    targets[reference] = targets[reference] | entered
            if targets:
                versions = resolver.columns(entity, list(targets), ("version",))
                for reference, tags in targets.items():
                    if reference in versions:
                        carried.append(
                            (
                                _feed_row(entity, reference, versions[reference]["version"], changed_at),
                                [(t, "put") for t in sorted(tags)],
                            )
                        )
    if locations:
        for child in LOCATION_CHILDREN:
            announce(child, "location", "location_id", locations)
    return carried


def _feed_row(entity: str, entity_id: UUID, version: int, changed_at: Any) -> dict[str, Any]:
    return {
        "entity": entity,
        "entity_id": entity_id,
        "op": "put",
        "version": version,
        "changed_at": changed_at,
    }


def scopes_of(
    role: str, user_id: UUID, led_teams: Iterable[UUID], team_id: UUID | None = None
) -> list[str] | None:
    """The tags a user pulls; None for everything (quality, managers). A technician's tags name their
    team: moving to another team changes them, and the next pull starts over (``reset``)."""
    if role in ("quality", "manager"):
        return None
    tags = [ALL, user_scope(user_id)]
    if role == "supervisor":
        tags += [team_scope(t) for t in sorted(led_teams, key=str)]
    elif team_id is not None:
        tags.append(members_scope(team_id))
    return tags


def announce_everything(connection: Connection, progress=None) -> int:
    """Write one tagged ``put`` per existing synced record (a database whose feed rows predate scope
    tags): the scoped pulls start from these. Returns how many records were announced."""
    resolver = ScopeResolver(connection)
    now = datetime.now(UTC)
    total = 0
    # Only the tables this revision of the schema has (a migration may run before later tables exist).
    inspector = inspect(connection)
    present = set(inspector.get_table_names())
    for entity, table in sorted(entity_tables().items()):
        if table.name not in present:
            continue
        columns = SCOPE_COLUMNS.get(entity, ())
        # A table that was not synced yet at this revision (no version, or not its scope columns): a
        # later migration announces its rows when it makes the table synced.
        if not {"version", *columns} <= {c["name"] for c in inspector.get_columns(table.name)}:
            continue
        count = connection.execute(select(func.count()).select_from(table)).scalar() or 0
        if not count:
            continue
        done = 0
        last_id = None
        while True:
            statement = select(table.c.id, table.c.version, *(table.c[c] for c in columns)).order_by(
                table.c.id
            )
            if last_id is not None:
                statement = statement.where(table.c.id > last_id)
            rows = [dict(r._mapping) for r in connection.execute(statement.limit(CHUNK))]
            if not rows:
                break
            last_id = rows[-1]["id"]
            tags = resolver.tags(entity, {r["id"]: r for r in rows})
            numbered = connection.execute(
                insert(SyncChange.__table__).returning(
                    SyncChange.__table__.c.seq, sort_by_parameter_order=True
                ),
                [_feed_row(entity, r["id"], r["version"], now) for r in rows],
            ).all()
            scope_rows = [
                {"scope": tag, "seq": seq, "op": "put"}
                for (seq,), r in zip(numbered, rows, strict=True)
                for tag in sorted(tags[r["id"]])
            ]
            if scope_rows:
                connection.execute(insert(SyncChangeScope.__table__), scope_rows)
            done += len(rows)
            if progress:
                progress(f"  scope tags: {entity} {done}/{count}")
        total += done
    return total
