from __future__ import annotations

import stat

import pytest

from backend.settings import SettingsError, load_settings


@pytest.fixture
def env(monkeypatch, tmp_path):
    for name in ("FIELDQ_ENV", "FIELDQ_SECRET_KEY", "FIELDQ_SECRET_KEY_FILE", "FIELDQ_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FIELDQ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FIELDQ_PASSWORD_HASH_PROFILE", "standard")
    return monkeypatch


def test_dev_generates_a_private_secret_once_and_keeps_it(env, tmp_path):
    first = load_settings()
    secret_file = tmp_path / "data" / "secret_key"
    assert first.secret_key_source == "generated"
    assert len(first.secret_key) >= 48
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert load_settings().secret_key == first.secret_key
    assert first.database_url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'fieldq.db'}"


def test_prod_refuses_missing_default_and_short_secrets(env):
    env.setenv("FIELDQ_ENV", "prod")
    with pytest.raises(SettingsError, match="needs FIELDQ_SECRET_KEY"):
        load_settings()
    for weak in ("change-me", "fieldq-demo", "short-but-random"):
        env.setenv("FIELDQ_SECRET_KEY", weak)
        with pytest.raises(SettingsError, match="default or too short"):
            load_settings()
    env.setenv("FIELDQ_SECRET_KEY", "k" * 20 + "9f8e7d6c5b4a39281706")
    settings = load_settings()
    assert settings.is_prod and settings.secret_key_source == "env"


def test_prod_refuses_the_test_hash_profile(env):
    env.setenv("FIELDQ_ENV", "prod")
    env.setenv("FIELDQ_SECRET_KEY", "z" * 48)
    env.setenv("FIELDQ_PASSWORD_HASH_PROFILE", "test")
    with pytest.raises(SettingsError, match="HASH_PROFILE"):
        load_settings()


def test_secret_from_a_file_and_postgres_url_normalised(env, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("a" * 40 + "\n")
    env.setenv("FIELDQ_SECRET_KEY_FILE", str(key_file))
    env.setenv("FIELDQ_DATABASE_URL", "postgresql://fieldq@db:5432/fieldq")
    settings = load_settings()
    assert settings.secret_key == "a" * 40
    assert settings.database_url == "postgresql+asyncpg://fieldq@db:5432/fieldq"
    assert not settings.is_sqlite


def test_bad_values_are_named(env):
    env.setenv("FIELDQ_ENV", "staging")
    with pytest.raises(SettingsError, match="FIELDQ_ENV"):
        load_settings()
    env.setenv("FIELDQ_ENV", "dev")
    env.setenv("FIELDQ_PORT", "eighty")
    with pytest.raises(SettingsError, match="FIELDQ_PORT"):
        load_settings()
    env.setenv("FIELDQ_PORT", "8000")
    env.setenv("FIELDQ_ACCESS_TOKEN_TTL", "-5")
    with pytest.raises(SettingsError, match="at least 1"):
        load_settings()
    env.delenv("FIELDQ_ACCESS_TOKEN_TTL")
    env.setenv("FIELDQ_SECRET_KEY_FILE", "/nonexistent/key")
    with pytest.raises(SettingsError, match="cannot be read"):
        load_settings()
