"""Photos and signatures as content-addressed blobs: checked by the media pipeline, stored under their
sha256, described by a ``blob`` row, and served (re-encoded, without metadata) only to people who may
see a job that uses them, or to whoever uploaded them.

Image work is CPU-bound and runs in a worker thread, so one large upload never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import weakref
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.to_thread
from sqlalchemy import String, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.services import CurrentUser
from backend.db import insert_unless_present, utcnow
from backend.errors import NotFound
from backend.jobs.models import Attachment, Blob, Job, Signoff
from backend.jobs.services import JobService, MediaRefused
from backend.media.pipeline import MAX_BLOB_BYTES, MediaError, check_signature, inspect_image
from backend.media.store import BlobStore
from backend.sync.exceptions import ExceptionService
from backend.sync.models import ExceptionKind, SyncException

VARIANTS = ("display", "thumbnail")


log = logging.getLogger("fieldq.media")
# Decoding a 50-megapixel image takes a few hundred MB and a core: at most this many at once per
# process, whatever the number of uploads in flight (the rest wait their turn, they are not refused).
IMAGE_WORKERS = 2
# Display sizes and thumbnails made after an upload's response wait in their own, narrower line:
# an upload's own check never queues behind the rendering of earlier uploads (a shift-end burst).
BACKGROUND_RENDER_WORKERS = 1
_limiters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def image_limiter(background: bool = False) -> anyio.CapacityLimiter:
    """The process's limiter for image work, one pair per event loop (tests run several loops)."""
    loop = asyncio.get_running_loop()
    limiters = _limiters.get(loop)
    if limiters is None:
        limiters = _limiters[loop] = (
            anyio.CapacityLimiter(IMAGE_WORKERS),
            anyio.CapacityLimiter(BACKGROUND_RENDER_WORKERS),
        )
    return limiters[1] if background else limiters[0]


async def image_work(function, *args, background: bool = False):
    return await anyio.to_thread.run_sync(function, *args, limiter=image_limiter(background))


async def render_in_background(store: BlobStore, sha256: str) -> None:
    """Make the served sizes after the upload's response; a failure is logged, and the first request
    for the image makes them instead."""
    try:
        await image_work(store.ensure_variants, sha256, background=True)
    except Exception:
        log.exception("rendering the display size and thumbnail of %s failed", sha256)


def blob_url(sha256: str, variant: str = "display") -> str:
    return f"/api/blobs/{sha256}/{variant}"


def _refused(error: MediaError, field: str | None = None) -> MediaRefused:
    return MediaRefused(error.message, status=error.status, code=error.code, field=field)


@dataclass
class Stored:
    blob: Blob
    created: bool


class BlobService:
    def __init__(self, session: AsyncSession, store: BlobStore) -> None:
        self.session = session
        self.store = store

    @staticmethod
    def check_name(sha256: str) -> None:
        if not BlobStore.is_valid_sha(sha256):
            raise MediaRefused(
                "a blob is named by the sha256 of its bytes: 64 lowercase hex digits",
                status=400,
                code="INVALID_HASH",
                field="sha256",
            )

    async def get(self, sha256: str) -> Blob | None:
        return await self.session.get(Blob, sha256)

    async def upload(
        self, current: CurrentUser, sha256: str, data: bytes, declared_type: str | None
    ) -> Stored:
        """Store an image once it is known to be what it claims: its bytes hash to its name, its content
        is an image of the declared type, within the limits. Returns the stored row either way (an
        upload of a blob already there is a no-op)."""
        self.check_name(sha256)
        if len(data) > MAX_BLOB_BYTES:
            raise MediaRefused(
                f"the image is {len(data):,} bytes; the limit is {MAX_BLOB_BYTES:,}",
                status=413,
                code="TOO_LARGE",
            )
        if hashlib.sha256(data).hexdigest() != sha256:
            raise MediaRefused(
                "the body does not hash to the sha256 in the URL",
                status=400,
                code="HASH_MISMATCH",
                field="sha256",
            )
        existing = await self.get(sha256)
        if existing is not None:
            return Stored(existing, created=False)
        try:
            info = await image_work(inspect_image, data, declared_type)
        except MediaError as error:
            raise _refused(error) from None
        await anyio.to_thread.run_sync(lambda: self.store.put(sha256, data, hashed=True))
        row = {
            "sha256": sha256,
            "content_type": info.content_type,
            "size_bytes": len(data),
            "width": info.width,
            "height": info.height,
            "captured_at": info.captured_at,
            "gps_lat": info.gps_lat,
            "gps_lon": info.gps_lon,
            "uploaded_by_id": current.id,
            "uploaded_at": utcnow(),
        }
        # Two uploads of the same photo at once (a retry racing the first) store one row.
        inserted = await self.session.execute(
            insert_unless_present(self.session, Blob.__table__, unique=["sha256"]).values(**row)
        )
        blob = await self.get(sha256)
        return Stored(blob, created=bool(inserted.rowcount))

    async def render_variants(self, sha256: str) -> dict[str, Path]:
        """Produce the display size and the thumbnail (once; later calls find them on disk)."""
        try:
            return await image_work(self.store.ensure_variants, sha256)
        except MediaError as error:
            raise _refused(error) from None

    async def may_see(self, current: CurrentUser, sha256: str, jobs: JobService) -> bool:
        """The uploader may see their blob; anyone else only through a job they may see, or an
        exception they may see that names it (a damaged or lost return's photos)."""
        blob = await self.get(sha256)
        if blob is None:
            return False
        if blob.uploaded_by_id == current.id or current.sees_everything:
            return True
        scope = await jobs.scope_filter(current)
        # Start from the rows that use the blob (both indexed by it), then check their jobs' scope.
        using = (
            select(Attachment.job_id.label("job_id"))
            .where(Attachment.blob == sha256)
            .union(select(Signoff.job_id.label("job_id")).where(Signoff.signature_blob == sha256))
            .subquery()
        )
        used_in_visible_job = select(Job.id).join(using, using.c.job_id == Job.id).limit(1)
        if scope is not None:
            used_in_visible_job = used_in_visible_job.where(scope)
        if await self.session.scalar(used_in_visible_job) is not None:
            return True
        return await self._named_by_visible_exception(current, sha256)

    async def _named_by_visible_exception(self, current: CurrentUser, sha256: str) -> bool:
        # ``blobs`` is a JSON list of hex digests: its text holds the quoted digest exactly when the list
        # does (``sha256`` is a stored blob's name, 64 hex digits, nothing LIKE would read as a pattern).
        statement = select(SyncException.id).where(
            SyncException.kind.in_((ExceptionKind.damaged, ExceptionKind.lost)),
            cast(SyncException.blobs, String).like(f'%"{sha256}"%'),
        )
        scope = await ExceptionService(self.session).visibility(current)
        if scope is not None:
            statement = statement.where(scope)
        return await self.session.scalar(statement.limit(1)) is not None

    async def visible_variant(
        self, current: CurrentUser, sha256: str, variant: str, jobs: JobService
    ) -> Path:
        self.check_name(sha256)
        if variant not in VARIANTS:
            raise NotFound(f"no variant {variant!r}; there are {', '.join(VARIANTS)}", field="variant")
        if not await self.may_see(current, sha256, jobs):
            raise NotFound("no such blob", field="sha256")
        return (await self.render_variants(sha256))[variant]

    async def check_signature_blob(self, sha256: str) -> None:
        """A sign-off's signature must be a PNG with real ink on it, not a blank pad."""
        blob = await self.get(sha256)
        if blob is None:
            raise NotFound("no such blob", field="signature_blob")
        data = await anyio.to_thread.run_sync(self.store.read, sha256)
        try:
            await image_work(check_signature, data)
        except MediaError as error:
            # The sign-off request itself is JSON: a stored image that is not a PNG is an invalid
            # signature (422), not an unsupported request body (415).
            status = 422 if error.status == 415 else error.status
            raise MediaRefused(
                error.message, status=status, code=error.code, field="signature_blob"
            ) from None
