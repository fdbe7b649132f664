"""The fieldq command: migrate, seed (refused in prod), user create, vapid."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from backend.cli import main
from backend.settings import get_settings


@pytest.fixture
def cli_env(monkeypatch, tmp_path):
    monkeypatch.setenv("FIELDQ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("FIELDQ_DATABASE_URL", raising=False)
    monkeypatch.delenv("FIELDQ_SECRET_KEY", raising=False)
    monkeypatch.setenv("FIELDQ_ENV", "dev")
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def invoke(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_migrate_seed_and_seed_again(cli_env, tmp_path):
    assert invoke("migrate").exit_code == 0
    first = invoke("seed", "--demo")
    assert first.exit_code == 0, first.output
    for username in ("manager", "quality", "supervisor1", "supervisor3", "tech1", "tech12"):
        assert username in first.output
    assert "fieldq-demo" in first.output
    again = invoke("seed", "--demo")
    assert again.exit_code == 0
    assert "already there" in again.output
    assert (tmp_path / "data" / "fieldq.db").exists()


def test_seed_is_refused_in_prod(cli_env):
    cli_env.setenv("FIELDQ_ENV", "prod")
    cli_env.setenv("FIELDQ_SECRET_KEY", "p" * 48)
    cli_env.setenv("FIELDQ_PASSWORD_HASH_PROFILE", "standard")
    result = CliRunner().invoke(main, ["seed", "--demo"])
    assert result.exit_code != 0
    assert "refusing" in result.output


def test_user_create_validates_and_creates(cli_env):
    assert invoke("migrate").exit_code == 0
    bad = CliRunner().invoke(
        main,
        [
            "user",
            "create",
            "--username",
            "x y",
            "--display-name",
            "X",
            "--role",
            "manager",
            "--password",
            "long-enough-pw",
        ],
    )
    assert bad.exit_code != 0
    good = invoke(
        "user",
        "create",
        "--username",
        "boss",
        "--display-name",
        "The Boss",
        "--role",
        "manager",
        input="long-enough-pw\nlong-enough-pw\n",
    )
    assert good.exit_code == 0, good.output
    assert "Created manager boss" in good.output
    duplicate = CliRunner().invoke(
        main,
        [
            "user",
            "create",
            "--username",
            "boss",
            "--display-name",
            "B",
            "--role",
            "manager",
            "--password",
            "long-enough-pw",
        ],
    )
    assert duplicate.exit_code != 0
    assert "taken" in duplicate.output


def test_vapid_generates_then_keeps_the_key(cli_env, tmp_path):
    first = invoke("vapid")
    assert "Generated" in first.output
    public = first.output.strip().splitlines()[-1].split()[-1]
    second = invoke("vapid")
    assert "Kept the existing" in second.output
    assert second.output.strip().splitlines()[-1].split()[-1] == public


def test_inventory_check_finds_and_repairs_drift_from_the_ledger(cli_env, tmp_path):
    import sqlite3

    assert invoke("migrate").exit_code == 0
    seeded = invoke("seed", "--demo", "--installed-units", "300")
    assert seeded.exit_code == 0, seeded.output
    clean = invoke("inventory", "check")
    assert clean.exit_code == 0 and "Every balance equals its ledger" in clean.output
    with sqlite3.connect(tmp_path / "data" / "fieldq.db") as db:
        db.execute("UPDATE balance SET qty = qty + 5 WHERE id = (SELECT id FROM balance ORDER BY id LIMIT 1)")
    drifted = CliRunner().invoke(main, ["inventory", "check"])
    assert drifted.exit_code == 1 and "1 balance(s) differ" in drifted.output
    repaired = invoke("inventory", "check", "--repair")
    assert repaired.exit_code == 0 and "set to their ledger sums" in repaired.output
    assert invoke("inventory", "check").exit_code == 0
