"""One settings object, read from the environment (``FIELDQ_*``).

Secrets are never committed: the JWT signing key comes from ``FIELDQ_SECRET_KEY``
or, in ``dev``, is generated once into the data folder. ``prod`` refuses to run
with a generated, missing or well-known key, because several stateless app
processes must share one key and a guessable key forges every token.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Values that appear in docs and examples; never acceptable as a real key.
WELL_KNOWN_SECRETS = frozenset(
    {"", "change-me", "changeme", "secret", "fieldq", "fieldq-demo", "dev", "test", "please-change-me"}
)
MIN_SECRET_LENGTH = 32


class SettingsError(RuntimeError):
    """The environment describes a configuration FieldQ refuses to run with."""


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(f"FIELDQ_{name}")
    return value if value not in (None, "") else default


def _env_int(name: str, default: int, minimum: int = 1) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"FIELDQ_{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"FIELDQ_{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    env: str = "dev"
    data_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "var")
    database_url: str = ""
    secret_key: str = ""
    secret_key_source: str = "env"  # noqa: S105 - where the key came from: "env", "file", "generated"
    host: str = "127.0.0.1"
    port: int = 8000
    access_token_ttl: int = 15 * 60
    refresh_token_ttl: int = 30 * 24 * 3600
    max_body_bytes: int = 1024 * 1024
    login_max_failures: int = 5
    login_lockout_seconds: int = 60
    login_lockout_max_seconds: int = 15 * 60
    pwa_dist: Path = field(default_factory=lambda: PROJECT_ROOT / "pwa" / "dist")
    vapid_subject: str = "mailto:ops@fieldq.invalid"
    log_sql: bool = False
    sqlite_busy_timeout_ms: int = 10_000
    push_worker: bool = True  # deliver the push outbox in the background of this process
    # How often this process looks for overdue quality items (0: never; `fieldq quality scan-overdue`).
    quality_scan_seconds: float = 300.0

    @property
    def is_prod(self) -> bool:
        return self.env == "prod"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def vapid_private_key_path(self) -> Path:
        return self.data_dir / "vapid_private_key.pem"


def _read_or_generate_secret(data_dir: Path) -> str:
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Create with 0600 from the start so the key is never world-readable, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def load_settings() -> Settings:
    """Build settings from the environment; generate the dev secret on first run."""
    env = _env("ENV", "dev")
    if env not in ("dev", "prod"):
        raise SettingsError(f"FIELDQ_ENV must be 'dev' or 'prod', got {env!r}")
    data_dir = Path(_env("DATA_DIR", str(PROJECT_ROOT / "var"))).resolve()
    database_url = _env("DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir / 'fieldq.db'}"
    if database_url.startswith("postgresql://") or database_url.startswith("postgres://"):
        database_url = "postgresql+asyncpg://" + database_url.split("://", 1)[1]

    secret_key = _env("SECRET_KEY")
    secret_file = _env("SECRET_KEY_FILE")
    source = "env"
    if secret_key is None and secret_file:
        try:
            secret_key = Path(secret_file).read_text().strip()
        except OSError as exc:
            raise SettingsError(f"FIELDQ_SECRET_KEY_FILE cannot be read: {exc}") from exc
        source = "file"
    if env == "prod":
        if secret_key is None:
            raise SettingsError(
                "FIELDQ_ENV=prod needs FIELDQ_SECRET_KEY (or FIELDQ_SECRET_KEY_FILE): "
                "every app process must share one explicit key"
            )
        if secret_key.lower() in WELL_KNOWN_SECRETS or len(secret_key) < MIN_SECRET_LENGTH:
            raise SettingsError(
                f"FIELDQ_SECRET_KEY is a default or too short (need {MIN_SECRET_LENGTH}+ random characters)"
            )
        if os.environ.get("FIELDQ_PASSWORD_HASH_PROFILE", "standard") != "standard":
            raise SettingsError("FIELDQ_PASSWORD_HASH_PROFILE is for the test suite; unset it in prod")
    if secret_key is None:
        secret_key = _read_or_generate_secret(data_dir)
        source = "generated"

    return Settings(
        env=env,
        data_dir=data_dir,
        database_url=database_url,
        secret_key=secret_key,
        secret_key_source=source,
        host=_env("HOST", "127.0.0.1"),
        port=_env_int("PORT", 8000),
        access_token_ttl=_env_int("ACCESS_TOKEN_TTL", 15 * 60),
        refresh_token_ttl=_env_int("REFRESH_TOKEN_TTL", 30 * 24 * 3600),
        max_body_bytes=_env_int("MAX_BODY_BYTES", 1024 * 1024),
        login_max_failures=_env_int("LOGIN_MAX_FAILURES", 5),
        login_lockout_seconds=_env_int("LOGIN_LOCKOUT_SECONDS", 60),
        login_lockout_max_seconds=_env_int("LOGIN_LOCKOUT_MAX_SECONDS", 15 * 60),
        pwa_dist=Path(_env("PWA_DIST", str(PROJECT_ROOT / "pwa" / "dist"))),
        vapid_subject=_env("VAPID_SUBJECT", "mailto:ops@fieldq.invalid"),
        log_sql=_env("LOG_SQL", "0") == "1",
        sqlite_busy_timeout_ms=_env_int("SQLITE_BUSY_TIMEOUT_MS", 10_000),
        push_worker=_env("PUSH_WORKER", "1") != "0",
        quality_scan_seconds=float(_env("QUALITY_SCAN_SECONDS", "300")),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
