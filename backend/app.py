"""create_app(): plugins, routes, error mapping, middleware."""

from __future__ import annotations

import logging

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Litestar, Router, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Tag
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.controllers import ROUTE_HANDLERS as AUTH_ROUTES
from backend.auth.guards import PUBLIC, bearer_auth_middleware, role_guard
from backend.auth.services import SecurityLedger
from backend.db import (
    create_engine,
    create_plugin_config,
    create_session_factory,
    import_all_models,
    provide_transaction,
)
from backend.errors import EXCEPTION_HANDLERS
from backend.inventory.controllers import ROUTE_HANDLERS as INVENTORY_ROUTES
from backend.jobs.controllers import JOB_ROUTES
from backend.push.controllers import PUSH_ROUTES
from backend.push.worker import PushRuntime
from backend.quality.controllers import QUALITY_ROUTES
from backend.quality.feedback.controllers import FEEDBACK_ROUTES
from backend.quality.indicators.controllers import INDICATOR_ROUTES
from backend.quality.loop.clock import QualityClock
from backend.quality.loop.controllers import LOOP_ROUTES
from backend.quality.people.controllers import PEOPLE_ROUTES
from backend.settings import Settings, get_settings
from backend.sync.controllers import SYNC_ROUTES
from backend.sync.feed import install_change_recorder
from backend.web import security_headers_hook, serve_pwa, serve_pwa_root

DOCS_PATH = "/api/schema"
API_VERSION = "0.1.0"


@get("/api/health", operation_id="health", opt=PUBLIC, summary="Liveness and database reachability")
async def health(db_session: NamedDependency[AsyncSession]) -> dict[str, str]:
    await db_session.execute(text("SELECT 1"))
    return {"status": "ok", "database": "ok"}


def _openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="FieldQ API",
        version=API_VERSION,
        description=(
            "Field service with a custody ledger and a closed quality loop. Errors are "
            '`{"code", "message", "field"?}`. The sync protocol is documented in docs/SYNC.md.'
        ),
        path=DOCS_PATH,
        render_plugins=[SwaggerRenderPlugin(), JsonRenderPlugin(), YamlRenderPlugin()],
        openapi_router=Router(path=DOCS_PATH, route_handlers=[], opt=PUBLIC, include_in_schema=False),
        components=Components(
            security_schemes={
                "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
            }
        ),
        security=[{"BearerToken": []}],
        tags=[
            Tag(name="auth", description="Login, token rotation, logout"),
            Tag(name="users", description="Users (managers administer them)"),
            Tag(name="teams", description="Teams and their supervisors"),
            Tag(name="devices", description="Registered sync clients; revoke a lost phone"),
            Tag(name="inventory", description="Catalog, locations, assets, the custody ledger and its views"),
            Tag(
                name="exceptions", description="Contested facts and rejected work for supervisors to resolve"
            ),
            Tag(name="spares", description="Spare units sized from the installed base"),
            Tag(name="customers", description="Customers, their sites and the units installed there"),
            Tag(name="procedures", description="Standard procedures: steps, key moments, monitoring points"),
            Tag(name="jobs", description="Jobs from request to approval: dispatch, work record, sign-off"),
            Tag(name="quality", description="The quality store: issues reported from the field"),
            Tag(name="media", description="Photos and signatures, named by their sha256"),
            Tag(name="sync", description="The sync protocol v1 (docs/SYNC.md): push, pull, blobs"),
            Tag(name="push", description="Web Push: the VAPID key, my subscriptions and muted kinds"),
        ],
    )


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    import_all_models()
    install_change_recorder()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    engine = create_engine(settings)
    session_factory = create_session_factory(engine)
    push = PushRuntime(settings, session_factory)
    quality_clock = QualityClock(session_factory, settings.quality_scan_seconds)
    state = State(
        {
            "settings": settings,
            "session_factory": session_factory,
            "security_ledger": SecurityLedger(session_factory, settings),
            "push": push,
        }
    )

    async def dispose_engine() -> None:
        await engine.dispose()

    return Litestar(
        route_handlers=[
            health,
            *AUTH_ROUTES,
            *INVENTORY_ROUTES,
            *JOB_ROUTES,
            *SYNC_ROUTES,
            *QUALITY_ROUTES,
            *PEOPLE_ROUTES,
            *INDICATOR_ROUTES,
            *FEEDBACK_ROUTES,
            *PUSH_ROUTES,
            *LOOP_ROUTES,
            serve_pwa_root,
            serve_pwa,
        ],
        plugins=[SQLAlchemyPlugin(config=create_plugin_config(engine, session_factory))],
        middleware=[bearer_auth_middleware(exclude_paths=[f"^{DOCS_PATH}"])],
        before_send=[security_headers_hook(DOCS_PATH, hsts=settings.is_prod)],
        guards=[role_guard],
        dependencies={"db_session": Provide(provide_transaction)},
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=_openapi_config(),
        request_max_body_size=settings.max_body_bytes,
        state=state,
        on_startup=[push.startup, quality_clock.start],
        on_shutdown=[quality_clock.stop, push.shutdown, dispose_engine],
        debug=False,
    )
