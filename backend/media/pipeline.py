"""The one Pillow pipeline for photos and signatures: check what a phone uploaded, render what a screen shows.

Everything here is synchronous, CPU-bound and free of HTTP and the database: the blob endpoint runs it in
a worker thread. Three jobs:

* :func:`inspect_image` decides whether the bytes are an image FieldQ accepts (JPEG, PNG, WebP, HEIC, by
  content, never by a header), within the limits, and fully decodable; it reads when and where the photo
  was taken from EXIF.
* :func:`render_variants` makes the two WebP renditions the PWA shows (display and thumbnail), upright
  and with every byte of metadata (EXIF, GPS, XMP, ICC) left behind.
* :func:`check_signature` decides whether a customer signature PNG carries ink that looks like a
  signature rather than nothing, a dot or a filled rectangle.

Failures are :class:`MediaError` with a stable ``code``, an HTTP ``status`` (415 for a type FieldQ does not
take, 413 for too many bytes, 422 for bytes that are not a usable image) and a message naming the problem.
"""

from __future__ import annotations

import functools
import io
import math
import os
import re
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

import pillow_heif
from PIL import ExifTags, Image, ImageCms, ImageFile

from backend.errors import DomainError

# HEIC is what iPhones upload. Registering the opener once, at import, is what makes `Image.open` read it;
# pillow-heif applies the container's rotation and mirroring (irot/imir) while decoding and resets the EXIF
# orientation to 1, keeping the original in `info["original_orientation"]`.
pillow_heif.register_heif_opener()

# ---------------------------------------------------------------------------------------------------
# Limits

MAX_BLOB_BYTES = 15 * 1024 * 1024
# A 48 MP phone photo (8064×6048 = 48.8 M) must pass; a decoded RGBA image at the limit is ~200 MB.
MAX_PIXELS = 50_000_000
DISPLAY_LONG_EDGE = 2048
THUMB_LONG_EDGE = 320
SIGNATURE_MAX_EDGE = 4000

# Pillow's own bomb guard (Image.MAX_IMAGE_PIXELS, ~89 M by default: a warning above it, an error above
# twice it) is left alone: it is process-wide, and MAX_PIXELS, checked on the header before any decoding,
# is stricter. Its DecompressionBombError/Warning are still turned into our TOO_MANY_PIXELS. We do not use
# `warnings.catch_warnings` to silence the warning: it swaps process-global state and is not thread-safe.

# WebP settings, measured on a 12 MP photo on 2 cores (bench/media.py): method 0 encodes a 2048 px display
# image in ~40 ms, method 2 in ~65 ms (about 10 % smaller), method 4 in ~190 ms (2.5 % smaller again), which
# takes the whole render past the 300 ms budget. Thumbnails are small enough for method 4.
DISPLAY_QUALITY = 80
DISPLAY_METHOD = 2
THUMB_QUALITY = 70
THUMB_METHOD = 4
VARIANT_CONTENT_TYPE = "image/webp"

# Signatures: "ink" is a pixel far enough from the background; see check_signature.
SIGNATURE_MIN_COVERAGE = 0.002
SIGNATURE_MAX_COVERAGE = 0.60
SIGNATURE_MIN_EXTENT = 0.05
INK_MIN_ALPHA = 32
INK_MIN_CONTRAST = 64

JPEG, PNG, WEBP, HEIC = "image/jpeg", "image/png", "image/webp", "image/heic"
ACCEPTED_TYPES = (JPEG, PNG, WEBP, HEIC)
# The Pillow plugin allowed to open each type: content sniffed as PNG is never handed to another decoder.
_PIL_FORMAT = {JPEG: "JPEG", PNG: "PNG", WEBP: "WEBP", HEIC: "HEIF"}
# Other names clients send for the same types (image/heif is the container's generic name).
_ALIASES = {"image/jpg": JPEG, "image/pjpeg": JPEG, "image/heif": HEIC}

_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
_GENERIC_HEIF_BRANDS = {b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"

# Exceptions a decoder raises on hostile or broken input. Broad on purpose: none of them is a bug of ours,
# and each must become a 422 instead of a 500.
_DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    RuntimeError,
    struct.error,
    zlib.error,
)


class MediaError(DomainError):
    """A refused upload. ``code`` is stable for clients, ``status`` is the HTTP status it maps to.

    It is a ``DomainError`` so the app's one error mapping answers it as ``{"code", "message"}`` with
    ``status`` without glue in the endpoint; nothing in here knows about requests."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.status_code = status

    def __repr__(self) -> str:
        return f"MediaError({self.code!r}, {self.status}, {self.message!r})"


@dataclass(frozen=True, slots=True)
class ImageInfo:
    content_type: str
    # Upright size: after the EXIF orientation is applied (what a viewer shows).
    width: int
    height: int
    size_bytes: int
    captured_at: datetime | None
    gps_lat: float | None
    gps_lon: float | None
    # The EXIF orientation the photo carried (1 = upright). For HEIC, the container's own rotation is
    # already in width/height; this is the informational EXIF value.
    orientation: int


@dataclass(frozen=True, slots=True)
class Rendition:
    data: bytes
    width: int
    height: int
    content_type: str = VARIANT_CONTENT_TYPE


@dataclass(frozen=True, slots=True)
class Variants:
    display: Rendition
    thumbnail: Rendition


@dataclass(frozen=True, slots=True)
class SignatureInfo:
    width: int
    height: int
    size_bytes: int
    # Share of the pixels that are ink, 0–1.
    coverage: float
    # (left, top, right, bottom) of the ink, right/bottom exclusive.
    ink_box: tuple[int, int, int, int]


# ---------------------------------------------------------------------------------------------------
# Type


def sniff_type(data: bytes) -> str | None:
    """The accepted type these bytes are, by their magic bytes; ``None`` for anything else."""
    if data[:3] == b"\xff\xd8\xff":
        return JPEG
    if data[:8] == _PNG_SIGNATURE:
        return PNG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data[4:8] == b"ftyp" and _is_heic_ftyp(data):
        return HEIC
    return None


def _is_heic_ftyp(data: bytes) -> bool:
    # ISO-BMFF: [size][ftyp][major brand][minor version][compatible brands…]. iPhones write major "heic";
    # some encoders write the generic "mif1"/"msf1" and list the codec among the compatible brands, which
    # is also where AVIF (not accepted, and not decodable here) shows itself.
    major = data[8:12]
    if major in _HEIC_BRANDS:
        return True
    if major not in _GENERIC_HEIF_BRANDS:
        return False
    (box_size,) = struct.unpack(">I", data[:4])
    end = min(box_size, len(data), 256)
    compatible = {data[i : i + 4] for i in range(16, end - 3, 4)}
    return bool(compatible & _HEIC_BRANDS) or not (compatible & _AVIF_BRANDS)


def _normalize_declared(declared_type: str) -> str:
    base = declared_type.split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base)


def _checked_type(data: bytes, declared_type: str | None) -> str:
    if len(data) > MAX_BLOB_BYTES:
        raise MediaError(
            "IMAGE_TOO_LARGE",
            413,
            f"the image is {_mib(len(data))}; the limit is {_mib(MAX_BLOB_BYTES)}",
        )
    declared = _normalize_declared(declared_type) if declared_type is not None else None
    if declared is not None and declared not in ACCEPTED_TYPES:
        raise MediaError(
            "UNSUPPORTED_MEDIA_TYPE", 415, f"{declared or 'an empty type'} is not accepted; {_ACCEPTED_TEXT}"
        )
    sniffed = sniff_type(data)
    if sniffed is None:
        what = "empty" if not data else "not a JPEG, PNG, WebP or HEIC image"
        raise MediaError("UNSUPPORTED_MEDIA_TYPE", 415, f"the content is {what}; {_ACCEPTED_TEXT}")
    if declared is not None and declared != sniffed:
        raise MediaError("TYPE_MISMATCH", 415, f"declared {declared} but the content is {sniffed}")
    return sniffed


_ACCEPTED_TEXT = "send image/jpeg, image/png, image/webp or image/heic"


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


# ---------------------------------------------------------------------------------------------------
# Opening and decoding


_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


def _open(data: bytes, content_type: str) -> ImageFile.ImageFile:
    """Parse the header only (no pixel is decoded yet)."""
    try:
        img = Image.open(io.BytesIO(data), formats=[_PIL_FORMAT[content_type]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = _BOMB_PIXELS.search(str(exc))
        pixels = int(found.group(1)) if found else None
        raise _too_many_pixels(_png_header_size(data) if content_type == PNG else None, pixels) from None
    except _DECODE_ERRORS as exc:
        raise MediaError(
            "INVALID_IMAGE", 422, f"the content looks like {content_type} but cannot be read: {exc}"
        ) from None
    assert isinstance(img, ImageFile.ImageFile)
    return img


def _png_header_size(data: bytes) -> tuple[int, int] | None:
    if data[12:16] != b"IHDR" or len(data) < 24:
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _too_many_pixels(size: tuple[int, int] | None, pixels: int | None = None) -> MediaError:
    if size is not None:
        what = f"{size[0]}×{size[1]} pixels"
    elif pixels is not None:
        what = f"{pixels:,} pixels"
    else:
        what = "the image size"
    return MediaError("TOO_MANY_PIXELS", 422, f"{what} exceeds the {MAX_PIXELS:,} pixel limit")


def _check_pixels(img: Image.Image) -> None:
    width, height = img.size
    if width < 1 or height < 1:
        raise MediaError("INVALID_IMAGE", 422, f"the image has no pixels ({width}×{height})")
    if width * height > MAX_PIXELS:
        raise _too_many_pixels((width, height))


def _check_complete(data: bytes, content_type: str) -> None:
    """Truncation the decoders do not report themselves, found from the container."""
    # Pillow stops reading a PNG once the pixels are in: a file cut inside its last chunk still loads.
    if content_type == PNG and not data.endswith(_PNG_IEND) and data.rfind(b"IEND") < 0:
        raise MediaError("INVALID_IMAGE", 422, "the image is truncated: the PNG has no IEND chunk")
    # libwebp only says "could not create decoder object"; the RIFF header says how long the file is.
    if content_type == WEBP:
        (riff_size,) = struct.unpack("<I", data[4:8])
        if len(data) < riff_size + 8:
            raise MediaError(
                "INVALID_IMAGE",
                422,
                f"the image is truncated: the header says {riff_size + 8:,} bytes, {len(data):,} arrived",
            )


def _decode(img: ImageFile.ImageFile) -> None:
    """Decode every pixel (of the first frame): the only way to know the file is complete and sound.

    ImageFile.LOAD_TRUNCATED_IMAGES stays False: a truncated file raises instead of loading grey."""
    try:
        img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(img.size) from None
    except _DECODE_ERRORS as exc:
        message = str(exc) or type(exc).__name__
        if "truncated" in message or isinstance(exc, EOFError):
            raise MediaError("INVALID_IMAGE", 422, f"the image is truncated: {message}") from None
        raise MediaError("INVALID_IMAGE", 422, f"the image cannot be decoded: {message}") from None


def _orientation(img: Image.Image, content_type: str) -> tuple[int, int]:
    """(EXIF orientation as stored, orientation still to apply to the decoded pixels)."""
    if content_type == HEIC:
        stored = img.info.get("original_orientation")
        return (stored if isinstance(stored, int) and 1 <= stored <= 8 else 1), 1
    try:
        value = img.getexif().get(ExifTags.Base.Orientation, 1)
    except _DECODE_ERRORS:
        return 1, 1
    if isinstance(value, tuple | list) and value:
        value = value[0]
    value = value if isinstance(value, int) and 1 <= value <= 8 else 1
    return value, value


# ---------------------------------------------------------------------------------------------------
# Inspect


def inspect_image(data: bytes, declared_type: str | None = None) -> ImageInfo:
    """Check an uploaded photo and read its facts; raise MediaError when it is not acceptable.

    ``declared_type`` is the request's Content-Type: when given it must be one of the accepted types and
    match the content."""
    content_type = _checked_type(data, declared_type)
    _check_complete(data, content_type)
    with _open(data, content_type) as img:
        _check_pixels(img)
        width, height = img.size
        if content_type == JPEG:
            # Decoding at 1/8 scale (DCT scaling in libjpeg) still entropy-decodes every block, so a
            # truncated or corrupt file fails just the same, at a fraction of the cost (~30 ms for 12 MP).
            img.draft("RGB", (max(1, width // 8), max(1, height // 8)))
        _decode(img)
        return _facts(img, content_type, (width, height), len(data))


def _facts(img: Image.Image, content_type: str, size: tuple[int, int], size_bytes: int) -> ImageInfo:
    stored, to_apply = _orientation(img, content_type)
    captured_at, lat, lon = _exif_facts(img)
    width, height = size
    if to_apply in (5, 6, 7, 8):
        width, height = height, width
    return ImageInfo(
        content_type=content_type,
        width=width,
        height=height,
        size_bytes=size_bytes,
        captured_at=captured_at,
        gps_lat=lat,
        gps_lon=lon,
        orientation=stored,
    )


def _exif_facts(img: Image.Image) -> tuple[datetime | None, float | None, float | None]:
    # Metadata is a nice-to-have: a broken EXIF block never refuses a photo whose pixels are fine.
    try:
        exif = img.getexif()
        exif_ifd = exif.get_ifd(ExifTags.IFD.Exif)
        gps_ifd = exif.get_ifd(ExifTags.IFD.GPSInfo)
    except _DECODE_ERRORS:
        return None, None, None
    captured_at = _parse_exif_datetime(
        exif_ifd.get(ExifTags.Base.DateTimeOriginal),
        exif_ifd.get(ExifTags.Base.OffsetTimeOriginal),
        exif_ifd.get(ExifTags.Base.SubsecTimeOriginal),
    )
    lat, lon = _parse_gps(gps_ifd)
    return captured_at, lat, lon


EARLIEST_CAPTURE = datetime(1990, 1, 1, tzinfo=UTC)
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    return value.strip().strip("\x00").strip() or None


def _parse_exif_datetime(value: Any, offset: Any = None, subsec: Any = None) -> datetime | None:
    """EXIF "YYYY:MM:DD HH:MM:SS" as an aware datetime.

    With OffsetTimeOriginal (EXIF 2.31, written by current phones) the zone is exact. Without it the
    value is the camera's local wall time in an unknown zone; it is taken as UTC, so an old camera's
    photo can be off by its zone's offset — the upload time the server records is the reliable clock."""
    text = _text(value)
    if not text:
        return None
    try:
        parsed = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    sub = _text(subsec)
    if sub and sub.isdigit():
        parsed = parsed.replace(microsecond=int(sub[:6].ljust(6, "0")))
    zone: timezone = UTC
    match = _OFFSET.match(_text(offset) or "")
    if match:
        sign = -1 if match.group(1) == "-" else 1
        delta = timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
        if delta < timedelta(hours=15):
            zone = timezone(sign * delta)
    # A crafted date at the edge of the calendar (0001-01-01+05:00) cannot be stored in UTC, and
    # a capture time before digital cameras or after today is not a fact worth keeping.
    try:
        moment = parsed.replace(tzinfo=zone).astimezone(UTC)
    except OverflowError:
        return None
    if not EARLIEST_CAPTURE <= moment <= datetime.now(UTC) + timedelta(days=1):
        return None
    return moment


def _parse_gps(gps: dict[int, Any]) -> tuple[float | None, float | None]:
    lat = _degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef), "S")
    lon = _degrees(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef), "W")
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None, None
    # Several phones write 0/0 when they had no fix; nobody services an ATM at "Null Island".
    if lat == 0 and lon == 0:
        return None, None
    return round(lat, 7), round(lon, 7)


def _degrees(value: Any, ref: Any, negative: str) -> float | None:
    """EXIF GPS (degrees, minutes, seconds) rationals + N/S/E/W reference → signed decimal degrees."""
    if value is None:
        return None
    parts = value if isinstance(value, tuple | list) else (value,)
    try:
        numbers = [float(part) for part in parts[:3]]  # IFDRational with a zero denominator → nan
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not numbers or any(math.isnan(n) or math.isinf(n) or n < 0 for n in numbers):
        return None
    numbers += [0.0] * (3 - len(numbers))
    degrees = numbers[0] + numbers[1] / 60 + numbers[2] / 3600
    return -degrees if (_text(ref) or "").upper().startswith(negative) else degrees


# ---------------------------------------------------------------------------------------------------
# Variants


def render_variants(data: bytes) -> Variants:
    """The display (long edge ≤ 2048) and thumbnail (≤ 320) WebP renditions: upright, never upscaled,
    in sRGB, without EXIF/GPS/XMP/ICC. Checks the type, size and pixel limits like inspect_image."""
    return _render(data, None)[1]


def process_image(data: bytes, declared_type: str | None = None) -> tuple[ImageInfo, Variants]:
    """inspect_image and render_variants in one decode: for an upload whose variants are made at once.

    Refuses what inspect_image refuses (the decode for the display also reads every block of the
    file); worth it for HEIC, whose decode is most of the cost of both."""
    return _render(data, declared_type)


def _render(data: bytes, declared_type: str | None) -> tuple[ImageInfo, Variants]:
    content_type = _checked_type(data, declared_type)
    _check_complete(data, content_type)
    with _open(data, content_type) as img:
        _check_pixels(img)
        original_size = img.size
        if content_type == JPEG:
            scale = _reduction(img.size, DISPLAY_LONG_EDGE)
            if scale > 1:
                # libjpeg decodes straight to 1/2, 1/4 or 1/8 size: the largest reduction that still
                # leaves ≥ 2048 px on the long edge (a 48 MP photo decodes as 12 MP).
                img.draft(None, (max(1, img.width // scale), max(1, img.height // scale)))
        _decode(img)
        info = _facts(img, content_type, original_size, len(data))  # EXIF is parsed already: ~0.1 ms
        _stored, to_apply = _orientation(img, content_type)
        icc = img.info.get("icc_profile") or None
        source = _normalize_mode(img)
        display = _downscale(source, _fit(source.size, DISPLAY_LONG_EDGE), parallel=True)
        if display is img:
            display = img.copy()  # closing the file below would take the pixels with it
    # Orientation is applied after the resize: transposing 3 MP costs a fraction of transposing 12 MP.
    display = _transpose(display, to_apply)
    display = _to_srgb(display, icc)
    thumb_size = _fit(display.size, THUMB_LONG_EDGE)
    # The thumbnail (resize + encode) runs beside the display encode; both release the GIL.
    thumb_future = _executor().submit(_encode_thumbnail, display, thumb_size)
    display_webp = _webp(display, DISPLAY_QUALITY, DISPLAY_METHOD)
    thumbnail = thumb_future.result()
    return info, Variants(display=Rendition(display_webp, *display.size), thumbnail=thumbnail)


def _encode_thumbnail(display: Image.Image, size: tuple[int, int]) -> Rendition:
    # Never split here: this runs on a pool thread, and a pool task waiting on the pool could deadlock.
    thumb = _downscale(display, size, parallel=False)
    if thumb is display:
        thumb = display.copy()  # a small photo: the display encode is saving this very object meanwhile
    return Rendition(_webp(thumb, THUMB_QUALITY, THUMB_METHOD), *thumb.size)


def _fit(size: tuple[int, int], long_edge: int) -> tuple[int, int]:
    width, height = size
    if max(width, height) <= long_edge:
        return width, height
    scale = long_edge / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _reduction(size: tuple[int, int], long_edge: int) -> int:
    """The largest power of two (≤ 8) that keeps the long edge at or above ``long_edge``."""
    longest = max(size)
    scale = 1
    while scale < 8 and -(-longest // (scale * 2)) >= long_edge:
        scale *= 2
    return scale


def _normalize_mode(img: Image.Image) -> Image.Image:
    """One of L, LA, RGB, RGBA, CMYK: the modes resize handles and the colour step knows."""
    mode = img.mode
    if mode in ("L", "RGB") and img.has_transparency_data:
        return img.convert("RGBA")  # a tRNS colour key becomes real alpha
    if mode in ("L", "LA", "RGB", "RGBA", "CMYK"):
        return img
    if mode in ("P", "PA"):
        return img.convert("RGBA" if img.has_transparency_data else "RGB")
    if mode == "1":
        return img.convert("L")
    if mode.startswith("I;16"):
        # 16-bit grey: convert("L") would clip everything above 255 to white; scale instead.
        return img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if mode in ("I", "F"):
        _low, high = img.getextrema()
        if high > 255:
            img = img.point(lambda v: v * (255 / high))
        return img.convert("L")
    if mode == "RGBa":
        return img.convert("RGBA")
    if mode == "La":
        return img.convert("LA")
    return img.convert("RGBA" if "A" in mode else "RGB")


# Pillow releases the GIL while it resamples and encodes WebP, so a few threads do real parallel work: the
# display resize is split into strips and the thumbnail is made beside the display encode. Shared by every
# caller; tasks on it never wait on it (no deadlock however many uploads run at once).
def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_WORKERS = max(1, min(4, _cpu_count()))
_SPLIT_MIN_PIXELS = 2_000_000
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="fieldq-media")
    return _pool


def _downscale(img: Image.Image, size: tuple[int, int], *, parallel: bool) -> Image.Image:
    """Shrink to ``size`` (never up): an integer box reduce() down to < 2× the target, then a convolution
    filter (BICUBIC for the large display step, LANCZOS otherwise).

    A filter's cost grows with the scale (its taps do); the cheap box reduce first keeps the last, filtered
    step under 2× — the idea of Pillow's ``reducing_gap``, with the reduction chosen like the JPEG draft's."""
    if img.size == size:
        return img
    factor = min(img.width // size[0], img.height // size[1])
    if factor >= 2:
        img = img.reduce(factor)
        if img.size == size:
            return img
    big = img.width * img.height >= _SPLIT_MIN_PIXELS
    if parallel and big:
        return _resample(img, size, _WORKERS, _LARGE_FILTER)
    return _resample(img, size, 1, Image.Resampling.LANCZOS)


# For the big step (12 MP → 3 MP) BICUBIC instead of LANCZOS: on the bench photo their results differ by
# 0.43 of 255 levels on average (invisible), and BICUBIC's kernel, two thirds as wide, takes ~110 ms of CPU
# where LANCZOS takes ~180 ms. Small steps (thumbnails) keep LANCZOS: they cost next to nothing.
_LARGE_FILTER = Image.Resampling.BICUBIC


def _resample(img: Image.Image, size: tuple[int, int], strips: int, resample: int) -> Image.Image:
    """Resize in ``strips`` horizontal strips resized in parallel (12 MP → 3 MP: about half the wall time
    on 2 idle cores). A resize with a source ``box`` still reads the pixels around the box for its
    filter, so the strips join without a seam (tested against one resize)."""
    width, height = size
    strips = max(1, min(strips, height))
    if strips == 1:
        return img.resize(size, resample)
    img.load()
    scale = img.height / height
    bounds = [round(height * i / strips) for i in range(strips + 1)]

    def strip(top: int, bottom: int) -> Image.Image:
        box = (0, top * scale, img.width, bottom * scale)
        return img.resize((width, bottom - top), resample, box)

    spans = list(pairwise(bounds))
    futures = [_executor().submit(strip, top, bottom) for top, bottom in spans[1:]]
    out = Image.new(img.mode, size)
    out.paste(strip(*spans[0]), (0, 0))
    for (top, _bottom), future in zip(spans[1:], futures, strict=True):
        out.paste(future.result(), (0, top))
    return out


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _transpose(img: Image.Image, orientation: int) -> Image.Image:
    method = _TRANSPOSE.get(orientation)
    return img.transpose(method) if method is not None else img


_SRGB = ImageCms.createProfile("sRGB")


@functools.lru_cache(maxsize=32)
def _transform(icc: bytes, in_mode: str, out_mode: str) -> ImageCms.ImageCmsTransform | None:
    """A cached colour transform from an embedded profile to sRGB; None when the profile already is sRGB
    (most photos: skipping it saves the pass) or cannot be used."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in (ImageCms.getProfileDescription(profile) or "").lower().replace(" ", ""):
            return None
        return ImageCms.buildTransform(profile, _SRGB, in_mode, out_mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


def _to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    """RGB or RGBA in sRGB: the variants carry no profile, and untagged images are shown as sRGB.

    Done on the resized image (a few MP at most) rather than the source."""
    has_alpha = img.mode in ("LA", "RGBA")
    out_mode = "RGBA" if has_alpha else "RGB"
    if icc and isinstance(icc, bytes):
        transform = _transform(icc, img.mode, out_mode)
        if transform is not None:
            try:
                converted = ImageCms.applyTransform(img, transform)
            except (ImageCms.PyCMSError, OSError, ValueError):
                converted = None
            if converted is not None:
                if has_alpha and img.mode == out_mode:
                    converted.putalpha(img.getchannel("A"))
                img = converted
    if img.mode != out_mode:
        img = img.convert(out_mode)
    if out_mode == "RGBA" and img.getchannel("A").getextrema() == (255, 255):
        img = img.convert("RGB")  # an alpha channel that is opaque everywhere only costs bytes
    return img


def _webp(img: Image.Image, quality: int, method: int) -> bytes:
    # WebP's encoder writes EXIF/ICC/XMP only when passed explicitly; the source's info (EXIF with GPS, the
    # ICC profile, XMP) is dropped too so no later change to Pillow's defaults can carry it over.
    img.info = {}
    buffer = io.BytesIO()
    img.save(buffer, "WEBP", quality=quality, method=method)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------------
# Signatures


def check_signature(data: bytes) -> SignatureInfo:
    """Check a customer signature: a PNG within the limits whose ink looks like a signature.

    Ink is a pixel whose grey value is more than INK_MIN_CONTRAST from the background. With transparency
    (how signature pads export) the transparent area is the background: pixels with alpha ≤ 32 count as
    paper and the rest is laid on white, so dark strokes are ink. Opaque images take their most common grey
    as the background (white paper, or a dark pad with light ink). Refused with BLANK_SIGNATURE: ink
    under 0.2 % of the pixels, ink that fits in a box under 5 % of the long edge both ways (a dot), or ink
    over 60 % (a filled image, not a signature)."""
    if len(data) > MAX_BLOB_BYTES:
        raise MediaError(
            "IMAGE_TOO_LARGE", 413, f"the signature is {_mib(len(data))}; the limit is {_mib(MAX_BLOB_BYTES)}"
        )
    sniffed = sniff_type(data)
    if sniffed is None:
        raise MediaError("UNSUPPORTED_MEDIA_TYPE", 415, "a signature must be a PNG image; this is no image")
    if sniffed != PNG:
        raise MediaError("NOT_PNG", 415, f"a signature must be a PNG image; this is {sniffed}")
    _check_complete(data, PNG)
    with _open(data, PNG) as img:
        width, height = img.size
        if width > SIGNATURE_MAX_EDGE or height > SIGNATURE_MAX_EDGE:
            raise MediaError(
                "TOO_MANY_PIXELS",
                422,
                f"a signature of {width}×{height} pixels exceeds {SIGNATURE_MAX_EDGE}×{SIGNATURE_MAX_EDGE}",
            )
        _check_pixels(img)
        _decode(img)
        grey, background = _flatten_for_ink(_normalize_mode(img))
    histogram = grey.histogram()
    is_ink = [abs(value - background) > INK_MIN_CONTRAST for value in range(256)]
    total = width * height
    coverage = sum(count for value, count in enumerate(histogram) if is_ink[value]) / total
    if coverage < SIGNATURE_MIN_COVERAGE:
        raise MediaError(
            "BLANK_SIGNATURE",
            422,
            f"the signature is blank: ink covers {coverage * 100:.2f} % of the image "
            f"(at least {SIGNATURE_MIN_COVERAGE * 100:.1f} % is needed)",
        )
    if coverage > SIGNATURE_MAX_COVERAGE:
        raise MediaError(
            "BLANK_SIGNATURE",
            422,
            f"not a signature: ink covers {coverage * 100:.0f} % of the image "
            f"(at most {SIGNATURE_MAX_COVERAGE * 100:.0f} %)",
        )
    mask = grey.point([255 if ink else 0 for ink in is_ink])
    box = mask.getbbox() or (0, 0, 0, 0)
    box_width, box_height = box[2] - box[0], box[3] - box[1]
    least = SIGNATURE_MIN_EXTENT * max(width, height)
    if box_width < least and box_height < least:
        raise MediaError(
            "BLANK_SIGNATURE",
            422,
            f"the signature is only a dot: its ink fits in {box_width}×{box_height} pixels "
            f"of a {width}×{height} image",
        )
    return SignatureInfo(width, height, len(data), round(coverage, 6), box)


def _flatten_for_ink(img: Image.Image) -> tuple[Image.Image, int]:
    """(grey image, background grey value): see check_signature. Only C loops (convert, point, paste,
    histogram), at full resolution so thin strokes keep their contrast (a downscale would average them
    into the paper): a 1200×400 pad image is checked in under 10 ms, PNG decoding included."""
    if img.mode in ("LA", "RGBA"):
        grey, alpha = img.convert("LA").split()
        opaque = alpha.point(_ALPHA_LUT)
        if opaque.histogram()[0] > 0:
            paper = Image.new("L", img.size, 255)
            paper.paste(grey, mask=opaque)
            return paper, 255
    else:
        grey = img.convert("L")
    histogram = grey.histogram()
    return grey, max(range(256), key=histogram.__getitem__)


_ALPHA_LUT = [255 if value > INK_MIN_ALPHA else 0 for value in range(256)]

__all__ = [
    "ACCEPTED_TYPES",
    "DISPLAY_LONG_EDGE",
    "MAX_BLOB_BYTES",
    "MAX_PIXELS",
    "SIGNATURE_MAX_EDGE",
    "THUMB_LONG_EDGE",
    "VARIANT_CONTENT_TYPE",
    "ImageInfo",
    "MediaError",
    "Rendition",
    "SignatureInfo",
    "Variants",
    "check_signature",
    "inspect_image",
    "process_image",
    "render_variants",
    "sniff_type",
]
