"""A minimal sync client for tests: numbers its outbox, pushes and pulls through the HTTP API, and
keeps the pulled records like a phone's local database does."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4


@dataclass
class SyncClient:
    http: Any
    headers: dict[str, str]
    client_id: str = field(default_factory=lambda: str(uuid4()))
    next_id: int = 1
    cursor: str | None = None
    records: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    last_mutation_id: int = 0

    def mutation(self, name: str, client_time: str | None = None, **args: Any) -> dict[str, Any]:
        made = {"id": self.next_id, "name": name, "args": args}
        if client_time:
            made["client_time"] = client_time
        self.next_id += 1
        return made

    def push_raw(self, mutations: list[dict[str, Any]], **extra: Any):
        body = {"protocol": 1, "client_id": self.client_id, "mutations": mutations, **extra}
        return self.http.post("/api/sync/v1/push", headers=self.headers, json=body)

    def push(self, mutations: list[dict[str, Any]]) -> dict[str, Any]:
        response = self.push_raw(mutations)
        assert response.status_code == 200, response.text
        return response.json()

    def pull_raw(self, cursor: str | None = None, limit: int = 1000, **extra: Any):
        body = {"protocol": 1, "client_id": self.client_id, "cursor": cursor, "limit": limit, **extra}
        return self.http.post("/api/sync/v1/pull", headers=self.headers, json=body)

    def pull(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Pull until ``has_more`` is false, applying every page; returns the changes received."""
        received: list[dict[str, Any]] = []
        previous = None
        while True:
            response = self.pull_raw(self.cursor, limit)
            assert response.status_code == 200, response.text
            page = response.json()
            if page["reset"]:
                self.records.clear()
            for change in page["changes"]:
                key = (change["entity"], change["id"])
                if change["op"] == "put":
                    self.records[key] = change["data"]
                else:
                    self.records.pop(key, None)
            received += page["changes"]
            self.cursor = page["cursor"]
            self.last_mutation_id = page["last_mutation_id"]
            self.checkpoint = int(page["checkpoint"])
            if not page["has_more"]:
                return received
            # Every page with more to come moves the cursor on; a stuck cursor would pull forever.
            assert previous is None or self.checkpoint > previous, (previous, page)
            previous = self.checkpoint

    def ids_of(self, entity: str) -> set[str]:
        return {record_id for (kind, record_id) in self.records if kind == entity}
