"""Blobs on disk, addressed by the SHA-256 of their bytes.

Layout under the base folder (the app passes ``settings.data_dir / "blobs"``)::

    ab/cdef…                            the uploaded bytes of blob abcdef… (the 62 characters after "ab")
    derived/ab/abcdef….display.webp     renditions made from it by the pipeline
    derived/ab/abcdef….thumbnail.webp

Every write goes to a temporary file in the target folder, is fsynced and then moved into place, so a
reader (or a crash) never sees half a file, and two processes storing the same blob or rendering the same
variants at once both end with one complete file. A hash is only ever turned into a path after
``is_valid_sha`` accepted it: exactly 64 lowercase hex characters, so no "..", "/" or NUL can reach the
filesystem. Synchronous on purpose: callers run it in a worker thread.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Literal

from backend.media.pipeline import MediaError, Variants, render_variants

VariantName = Literal["display", "thumbnail"]
VARIANT_NAMES: tuple[VariantName, ...] = ("display", "thumbnail")

_SHA256 = re.compile(r"[0-9a-f]{64}")


class BlobStore:
    def __init__(self, base: Path) -> None:
        self.base = Path(base)

    # -- addressing ---------------------------------------------------------------------------------

    @staticmethod
    def is_valid_sha(value: object) -> bool:
        """Exactly 64 lowercase hex characters (``fullmatch``: no trailing newline slips through)."""
        return isinstance(value, str) and _SHA256.fullmatch(value) is not None

    def _checked(self, sha: str) -> str:
        if not self.is_valid_sha(sha):
            shown = repr(sha)[:80]
            raise MediaError(
                "INVALID_SHA256", 400, f"{shown} is not a SHA-256 in lowercase hex (64 characters 0-9, a-f)"
            )
        return sha

    def path_for(self, sha: str) -> Path:
        sha = self._checked(sha)
        return self.base / sha[:2] / sha[2:]

    def variant_path(self, sha: str, name: VariantName) -> Path:
        sha = self._checked(sha)
        if name not in VARIANT_NAMES:
            raise ValueError(f"unknown variant {name!r}; one of {', '.join(VARIANT_NAMES)}")
        return self.base / "derived" / sha[:2] / f"{sha}.{name}.webp"

    # -- blobs --------------------------------------------------------------------------------------

    def exists(self, sha: str) -> bool:
        return self.path_for(sha).is_file()

    def read(self, sha: str) -> bytes:
        try:
            return self.path_for(sha).read_bytes()
        except FileNotFoundError:
            raise MediaError("NOT_FOUND", 404, f"blob {sha} is not stored") from None

    def holds_intact(self, sha: str) -> bool:
        """Whether the stored bytes still hash to their name (a file replaced on disk does not)."""
        try:
            data = self.read(sha)
        except Exception:  # missing or unreadable: not intact
            return False
        return hashlib.sha256(data).hexdigest() == sha

    def put(self, sha: str, data: bytes, *, hashed: bool = False) -> bool:
        """Store ``data`` under ``sha``; True when it was written, False when it was already there.

        The bytes must hash to ``sha`` (400 HASH_MISMATCH otherwise; ``hashed``: the caller has just
        checked that). Checking the image itself is the caller's job (pipeline.inspect_image /
        check_signature), before this."""
        path = self.path_for(sha)
        if not hashed:
            actual = hashlib.sha256(data).hexdigest()
            if actual != sha:
                raise MediaError("HASH_MISMATCH", 400, f"the body hashes to {actual}, not {sha}")
        if path.is_file():
            return False
        return _write_atomic(path, data, replace=False)

    # -- variants -----------------------------------------------------------------------------------

    def ensure_variants(self, sha: str, rendered: Variants | None = None) -> dict[VariantName, Path]:
        """The paths of the blob's display and thumbnail WebP files, rendering them the first time.

        Idempotent; ``rendered`` passes variants the caller already made (no second decode). Two
        processes racing here may both render, but each file appears once, complete (atomic replace of
        equivalent bytes). Raises MediaError NOT_FOUND when the blob is not stored, and the pipeline's
        422 when the stored bytes are not a usable image."""
        paths = {name: self.variant_path(sha, name) for name in VARIANT_NAMES}
        if all(path.is_file() for path in paths.values()):
            return paths
        variants = rendered if rendered is not None else render_variants(self.read(sha))
        contents = {"display": variants.display.data, "thumbnail": variants.thumbnail.data}
        for name, path in paths.items():
            if not path.is_file():
                _write_atomic(path, contents[name], replace=True)
        return paths


def _write_atomic(path: Path, data: bytes, *, replace: bool) -> bool:
    """Write via a temp file in the same folder + fsync + rename. With ``replace=False`` the final step is a
    hard link, which fails instead of overwriting when another writer got there first: the return value
    then says False, so "created" is reported exactly once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:16]}.", suffix=".tmp")
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        created = True
        if replace:
            os.replace(temp, path)
        else:
            try:
                os.link(temp, path)
            except FileExistsError:
                created = False
            except OSError as exc:
                # Filesystems without hard links (some network and container mounts): fall back to a
                # rename, which is still atomic; a concurrent identical put may then also report True.
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV):
                    raise
                os.replace(temp, path)
        _fsync_dir(path.parent)
        return created
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _fsync_dir(folder: Path) -> None:
    # The rename is only durable once the folder's entry is on disk (POSIX; a no-op where unsupported).
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
