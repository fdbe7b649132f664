"""fieldq: serve | migrate | seed | user | vapid"""

from __future__ import annotations

import asyncio
import sys

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from backend.settings import PROJECT_ROOT, Settings, SettingsError, get_settings

console = Console()


def _settings() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def alembic_config(database_url: str):
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    config.attributes["database_url"] = database_url
    return config


def _session_factory(settings: Settings):
    from backend.db import create_engine, create_session_factory, import_all_models
    from backend.sync.feed import install_change_recorder

    import_all_models()
    install_change_recorder()
    engine = create_engine(settings)
    return engine, create_session_factory(engine)


@click.group()
def main() -> None:
    """FieldQ: field service with a custody ledger and a closed quality loop."""


@main.command()
@click.option("--host", default=None, help="Address to listen on (FIELDQ_HOST, default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (FIELDQ_PORT, default 8000).")
@click.option("--workers", default=1, show_default=True, help="Worker processes (PostgreSQL only).")
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Run the API and the PWA."""
    import uvicorn

    settings = _settings()
    host, port = host or settings.host, port or settings.port
    if workers > 1 and settings.is_sqlite:
        raise click.ClickException("several workers need PostgreSQL; SQLite allows one writer process")
    console.print(f"[bold green]FieldQ[/] on [link]http://{host}:{port}/[/] (API docs: /api/schema/swagger)")
    uvicorn.run(
        "backend.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        server_header=False,
        log_level="info",
    )


@main.command()
@click.option("--revision", default="head", show_default=True, help="Target revision ('base' to undo all).")
def migrate(revision: str) -> None:
    """Bring the database schema to a revision (default: the newest)."""
    from alembic import command

    settings = _settings()
    config = alembic_config(settings.database_url)
    console.print(f"Migrating {_redact(settings.database_url)} to {revision}")
    if revision == "base" or revision.startswith("-"):
        command.downgrade(config, revision)
    else:
        command.upgrade(config, revision)
    console.print("[green]Schema is up to date.[/]")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.command()
@click.option("--demo", is_flag=True, help="Create the demo company (dev only).")
def seed(demo: bool) -> None:
    """Fill the database with demo data."""
    from backend.demo import DEMO_PASSWORD, demo_steps, seed_demo

    settings = _settings()
    if not demo:
        raise click.UsageError("say what to seed: --demo")
    if settings.is_prod:
        raise click.ClickException(
            "refusing to seed demo data with FIELDQ_ENV=prod (its passwords are public)"
        )

    async def run():
        engine, factory = _session_factory(settings)
        try:
            with Progress(
                TextColumn("[bold]Seeding demo company"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            ) as progress:
                task = progress.add_task("", total=demo_steps())
                return await seed_demo(factory, lambda msg: progress.update(task, advance=1, description=msg))
        finally:
            await engine.dispose()

    logins, created = asyncio.run(run())
    if not created:
        console.print("Demo data was already there; nothing changed.")
    table = Table(title=f"Demo logins (password for all: {DEMO_PASSWORD})")
    for column in ("username", "role", "name", "team"):
        table.add_column(column)
    order = {"manager": 0, "quality": 1, "supervisor": 2, "technician": 3}
    for login in sorted(
        logins, key=lambda item: (order.get(item.role, 9), len(item.username), item.username)
    ):
        table.add_row(login.username, login.role, login.display_name, login.team)
    console.print(table)


@main.group()
def user() -> None:
    """Manage users from the command line."""


@user.command("create")
@click.option("--username", required=True)
@click.option("--display-name", required=True)
@click.option("--role", required=True, type=click.Choice(["technician", "supervisor", "quality", "manager"]))
@click.option("--team", "team_name", default=None, help="Team name (technicians).")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def user_create(username: str, display_name: str, role: str, team_name: str | None, password: str) -> None:
    """Create a user (the first manager, typically)."""
    import msgspec
    from sqlalchemy import select

    from backend.auth.models import Team
    from backend.auth.schemas import UserCreate
    from backend.auth.services import UserService
    from backend.errors import DomainError

    settings = _settings()
    try:
        data = msgspec.convert(
            {"username": username.lower(), "display_name": display_name, "role": role, "password": password},
            UserCreate,
        )
    except msgspec.ValidationError as exc:
        raise click.ClickException(str(exc)) from exc

    async def run():
        engine, factory = _session_factory(settings)
        try:
            async with factory() as session, session.begin():
                if team_name:
                    team_id = await session.scalar(select(Team.id).where(Team.name == team_name))
                    if team_id is None:
                        raise click.ClickException(f"no team named {team_name!r}")
                    data.team_id = team_id
                return await UserService(session).create(data)
        finally:
            await engine.dispose()

    try:
        created = asyncio.run(run())
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    console.print(f"Created {created.role} [bold]{created.username}[/] ({created.id})")


@main.command()
@click.option("--force", is_flag=True, help="Replace an existing key pair (every push subscription breaks).")
def vapid(force: bool) -> None:
    """Generate the Web Push (VAPID) key pair into the data folder and print the public key."""
    from backend.push.vapid import application_server_key, load_or_create_vapid_key

    settings = _settings()
    key, created = load_or_create_vapid_key(settings.vapid_private_key_path, force=force)
    state = "Generated" if created else "Kept the existing"
    console.print(f"{state} VAPID private key at {settings.vapid_private_key_path}")
    console.print(f"Public key (applicationServerKey): {application_server_key(key)}")


if __name__ == "__main__":
    sys.exit(main())
