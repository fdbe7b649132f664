"""fieldq: serve | migrate | seed | import | inventory | user | vapid | push"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

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
@click.option(
    "--installed-units",
    type=click.IntRange(0, 1_000_000),
    default=None,
    envvar="FIELDQ_DEMO_INSTALLED_UNITS",
    help="ATMs in the demo installed base (default 3,000; env FIELDQ_DEMO_INSTALLED_UNITS).",
)
@click.option(
    "--inventory/--no-inventory",
    default=True,
    show_default=True,
    envvar="FIELDQ_DEMO_INVENTORY",
    help="With the demo company's inventory (installed base, spares, tools, uniforms, vans), or people only.",
)
@click.option(
    "--jobs/--no-jobs",
    default=True,
    show_default=True,
    envvar="FIELDQ_DEMO_JOBS",
    help="With the demo's customers, sites, units, procedures and jobs (needs the inventory).",
)
def seed(demo: bool, installed_units: int | None, inventory: bool, jobs: bool) -> None:
    """Fill the database with demo data."""
    from backend.demo import DEFAULT_INSTALLED_UNITS, DEMO_PASSWORD, demo_steps, seed_demo
    from backend.jobs.demo_data import job_summary

    if installed_units is None:
        installed_units = DEFAULT_INSTALLED_UNITS

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
                task = progress.add_task("", total=demo_steps(installed_units, inventory, jobs=jobs))
                logins, created = await seed_demo(
                    factory,
                    lambda msg: progress.update(task, advance=1, description=msg),
                    installed_units=installed_units,
                    inventory=inventory,
                    settings=settings if jobs else None,
                )
            async with factory() as session:
                return logins, created, await job_summary(session)
        finally:
            await engine.dispose()

    started = time.perf_counter()
    logins, created, summary = asyncio.run(run())
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
    console.print(
        f"{summary}. Seeded in {time.perf_counter() - started:.1f} s." if created else f"{summary}."
    )


@main.group("import")
def import_() -> None:
    """Import CSV files: the catalog, serialized assets into depots, the installed base.

    Every row is checked first and every problem is listed with its row number (the header is row 1);
    a file with any problem changes nothing. A good file is imported in one transaction."""


_CSV_FILE = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)
_ACTOR = click.option(
    "--actor",
    default="manager",
    show_default=True,
    help="Username recorded as the actor of the opening movements.",
)


@import_.command("catalog")
@click.argument("file", type=_CSV_FILE)
def import_catalog(file: Path) -> None:
    """Import items (and what their toolboxes hold) into the catalog.

    Columns: sku, name, kind; optional: tracking, unit, sizes, service_kind, service_interval_days,
    loan_days, kit_contents. Sizes are separated by | (S|M|L); kit contents are SKU:QTY separated by |
    (TW-1:1|SCR-SET:2) and may name items of the same file."""
    summary = _run_import("catalog", file)
    console.print(
        f"[green]Imported {summary.items:,} items[/] ({summary.kit_components:,} kit components) "
        f"from {file.name}.",
        soft_wrap=True,
    )


@import_.command("assets")
@click.argument("file", type=_CSV_FILE)
@_ACTOR
def import_assets(file: Path, actor: str) -> None:
    """Import serialized assets into depots, each with its opening movement.

    Columns: sku, serial, location_code (a depot); optional: due_at (default: now plus the item's
    service interval). A van gets its load space."""
    summary = _run_import("assets", file, actor=actor)
    opening = summary.opening
    console.print(
        f"[green]Imported {opening.assets:,} assets[/] with their opening movements "
        f"(operation {opening.move_id}) from {file.name}.",
        soft_wrap=True,
    )


@import_.command("installed-base")
@click.argument("file", type=_CSV_FILE)
@_ACTOR
def import_installed_base(file: Path, actor: str) -> None:
    """Import the installed base: units at customer sites, each with its opening movement.

    Columns: sku (a spare_unit model), serial, site_code; optional: site_name, region, address,
    installed_at, customer_code, customer_name, lat, lon. Sites not stored yet are created and need
    site_name and region; each site belongs to the customer its rows name (created if new; a
    placeholder "not recorded" customer otherwise) and each unit can get jobs. The spare shortage
    of every model and region touched is checked again."""
    summary = _run_import("installed-base", file, actor=actor)
    opening = summary.opening
    console.print(
        f"[green]Imported {opening.assets:,} installed units[/] at {opening.locations:,} new sites, with "
        f"their opening movements (operation {opening.move_id}) from {file.name}; "
        f"{summary.sites:,} customer sites and {summary.units:,} service units linked for jobs.",
        soft_wrap=True,
    )


def _run_import(kind: str, file: Path, **options):
    from sqlalchemy.exc import IntegrityError

    from backend.inventory.imports import IMPORTERS, ImportFailed

    settings = _settings()
    importer = IMPORTERS[kind]

    async def run():
        engine, factory = _session_factory(settings)
        try:
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            ) as progress:
                tasks: dict[str, object] = {}

                def report(phase: str, advance: int, total: int) -> None:
                    if phase not in tasks:
                        tasks[phase] = progress.add_task(phase, total=total)
                    progress.update(tasks[phase], advance=advance)

                async with factory() as session, session.begin():
                    return await importer(session, file, progress=report, **options)
        finally:
            await engine.dispose()

    started = time.perf_counter()
    try:
        summary = asyncio.run(run())
    except ImportFailed as exc:
        for error in exc.errors:
            console.print(str(error), markup=False, highlight=False, soft_wrap=True)
        raise click.ClickException(f"{file.name}: {exc}") from exc
    except IntegrityError as exc:
        # Another writer stored a conflicting row after the file was checked (PostgreSQL).
        raise click.ClickException(
            f"{file.name}: the database refused the import, nothing was imported: {exc.orig}"
        ) from exc
    console.print(f"{summary.rows:,} rows in {time.perf_counter() - started:.1f} s.")
    return summary


@main.group()
def sync() -> None:
    """Sync feed upkeep."""


@sync.command("compact")
@click.option(
    "--days", default=30, show_default=True, type=click.IntRange(min=30), help="Retention (at least 30)."
)
def sync_compact(days: int) -> None:
    """Drop superseded feed rows and tombstones older than the retention (cursors before them reset)."""
    from backend.sync.compaction import compact_feed

    settings = _settings()

    async def run():
        engine, factory = _session_factory(settings)
        try:
            async with factory() as session:
                return await compact_feed(session, retention_days=days, progress=console.print)
        finally:
            await engine.dispose()

    asyncio.run(run())


@sync.command("summary")
@click.argument("job_id", type=click.UUID)
def sync_summary(job_id) -> None:
    """Print a signed job's customer summary in its canonical form (docs/SYNC.md) and its sha256, as
    the server computes it now from its rows and the stored answers: to compare a phone's bytes with."""
    from sqlalchemy import select

    from backend.jobs.models import Job, Signoff
    from backend.jobs.record import SIGNOFF_FIELDS
    from backend.jobs.services import JobService
    from backend.jobs.signoff_canonical import customer_summary, summary_hash

    settings = _settings()

    async def run() -> bytes:
        engine, factory = _session_factory(settings)
        try:
            async with factory() as session:
                job = await session.get(Job, job_id)
                signoff = await session.scalar(select(Signoff).where(Signoff.job_id == job_id))
                if job is None or signoff is None:
                    raise click.ClickException(f"no signed job {job_id}")
                rows = await JobService(session, settings.secret_key).rows_now(job)
                return customer_summary(job, *rows, {name: getattr(signoff, name) for name in SIGNOFF_FIELDS})
        finally:
            await engine.dispose()

    canonical = asyncio.run(run())
    click.echo(canonical.decode("utf-8"))
    click.echo(summary_hash(canonical))


@main.group()
def inventory() -> None:
    """Inventory upkeep."""


@inventory.command("check")
@click.option("--repair", is_flag=True, help="Set every drifted balance to what the ledger says.")
def inventory_check(repair: bool) -> None:
    """Compare every balance with the sum of its ledger (exit 1 on drift unless repaired)."""
    from backend.inventory.services import InventoryService

    settings = _settings()

    async def run():
        engine, factory = _session_factory(settings)
        try:
            async with factory() as session, session.begin():
                service = InventoryService(session)
                drift = await service.balance_drift()
                if repair and drift:
                    await service.rebuild_balances()
                return drift
        finally:
            await engine.dispose()

    drift = asyncio.run(run())
    if not drift:
        console.print("Every balance equals its ledger.")
        return
    table = Table("location", "item", "size", "balance", "ledger")
    for (location_id, item_id, size), stored, ledger in drift[:50]:
        table.add_row(str(location_id), str(item_id), size, str(stored), str(ledger))
    console.print(table)
    if repair:
        console.print(f"{len(drift)} balance(s) set to their ledger sums.")
        return
    raise click.ClickException(f"{len(drift)} balance(s) differ from the ledger; run with --repair")


@main.group()
def quality() -> None:
    """Quality loop upkeep."""


@quality.command("scan-overdue")
def quality_scan_overdue() -> None:
    """Tell the owners of complaints, callbacks, nonconformances and actions past due (once a day each)."""
    from backend.db import utcnow
    from backend.events import settle_events
    from backend.quality.loop.overdue import scan_overdue

    settings = _settings()

    async def run():
        engine, factory = _session_factory(settings)
        try:
            async with factory() as session, session.begin():
                counts = await scan_overdue(session, utcnow())
                await settle_events(session)
                return counts
        finally:
            await engine.dispose()

    counts = asyncio.run(run())
    summary = ", ".join(f"{kind}: {count}" for kind, count in counts.items())
    console.print(f"Overdue items notified: {summary}")


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


@main.group()
def push() -> None:
    """Web Push: the notification outbox."""


@push.command("deliver")
def push_deliver() -> None:
    """Deliver what is due in the notification outbox once (the app's worker does this continuously)."""
    from backend.push.vapid import ensure_vapid_key
    from backend.push.worker import Sender, deliver_due

    settings = _settings()
    sender = Sender(ensure_vapid_key(settings.vapid_private_key_path), settings.vapid_subject)

    async def run():
        engine, session_factory = _session_factory(settings)
        try:
            return await deliver_due(session_factory, sender)
        finally:
            await engine.dispose()

    report = asyncio.run(run())
    console.print(
        f"claimed {report.claimed}: sent {report.sent}, retrying {report.retried}, failed {report.failed}, "
        f"expired {report.expired}; {report.gone} subscription(s) gone"
    )


if __name__ == "__main__":
    sys.exit(main())
