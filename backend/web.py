"""The built PWA, served at ``/`` with history fallback, and the headers every response carries."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from litestar import Request, Response, get
from litestar.datastructures import MutableScopeHeaders, State
from litestar.params import FromPath
from litestar.response import File
from litestar.types import Message, Scope

from backend.errors import NotFound

mimetypes.add_type("application/manifest+json", ".webmanifest")
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("image/svg+xml", ".svg")

# The PWA is built without inline scripts or styles, so it runs under a strict policy.
PWA_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "media-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"
# The printable service report: its own inline stylesheet and images inline as data URIs, no scripts.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
# The interactive API docs load their renderer from a CDN and bootstrap it inline.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://unpkg.com; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://unpkg.com "
    "https://fonts.googleapis.com; "
    "img-src 'self' data: https:; font-src 'self' data: https://fonts.gstatic.com; connect-src 'self'; "
    "frame-ancestors 'none'; object-src 'none'"
)
COMMON_HEADERS = [
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("permissions-policy", "camera=(self), geolocation=(self), microphone=(), payment=(), usb=()"),
]


def security_headers_hook(docs_prefix: str, hsts: bool):
    """A ``before_send`` hook adding security headers and the right CSP to every HTTP response,
    including error responses produced by middleware (which an ordinary middleware would miss)."""

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        path: str = scope.get("path", "")
        if path.startswith(docs_prefix):
            csp = DOCS_CSP
        elif path.startswith("/api/jobs/") and path.endswith("/report"):
            csp = REPORT_CSP
        elif path.startswith("/api/"):
            csp = API_CSP
        else:
            csp = PWA_CSP
        headers = MutableScopeHeaders.from_message(message)
        for name, value in COMMON_HEADERS:
            if name not in headers:
                headers[name] = value
        headers["content-security-policy"] = csp
        if hsts:
            headers["strict-transport-security"] = "max-age=31536000; includeSubDomains"

    return add_headers


def _resolve(dist: Path, path: str) -> Path | None:
    """The file under ``dist`` that ``path`` names, never anything outside it."""
    try:
        candidate = (dist / path.lstrip("/")).resolve()
        if not candidate.is_relative_to(dist) or not candidate.is_file():
            return None
    except (OSError, ValueError):  # a NUL byte, a name longer than the filesystem allows
        return None
    return candidate


def _cache_control(relative: str) -> str:
    # Vite fingerprints everything under assets/; the shell, manifest and service
    # worker must be revalidated so an update reaches phones.
    if relative.startswith("assets/"):
        return "public, max-age=31536000, immutable"
    return "no-cache"


@get("/", opt={"public": True}, include_in_schema=False, sync_to_thread=False)
def serve_pwa_root(request: Request, state: State) -> Response:
    return serve_pwa_file(request, state, "")


@get("/{path:path}", opt={"public": True}, include_in_schema=False, sync_to_thread=False)
def serve_pwa(request: Request, state: State, path: FromPath[str]) -> Response:
    return serve_pwa_file(request, state, path)


def serve_pwa_file(request: Request, state: State, path: str) -> Response:
    if path.lstrip("/").split("/", 1)[0] == "api":
        raise NotFound(f"no API route {request.url.path}")
    dist: Path = state.settings.pwa_dist.resolve()
    relative = path.lstrip("/")
    found = _resolve(dist, relative) if relative else None
    if found is None:
        if Path(relative).suffix and not relative.endswith(".html"):
            raise NotFound(f"no file {relative}")
        found = _resolve(dist, "index.html")
        relative = "index.html"
    if found is None:
        return Response(
            content="FieldQ's PWA is not built: run `make build` (npm run build in pwa/).",
            media_type="text/plain",
            status_code=503,
        )
    media_type = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
    headers = {"Cache-Control": _cache_control(relative)}
    if found.name == "sw.js":
        headers["Service-Worker-Allowed"] = "/"
    return File(path=found, media_type=media_type, headers=headers, content_disposition_type="inline")
