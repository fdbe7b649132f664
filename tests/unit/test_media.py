"""The photo and signature pipeline and the blob store. Every fixture is drawn here with Pillow (and
encoded to HEIC with pillow-heif): no binary files in the repository."""

from __future__ import annotations

import hashlib
import io
import os
import random
import struct
import threading
import time
import warnings
import zlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pillow_heif
import pytest
from PIL import ExifTags, Image, ImageChops, ImageCms, ImageDraw, ImageFile
from PIL.TiffImagePlugin import IFDRational

from backend.errors import DomainError
from backend.media import pipeline, store
from backend.media.pipeline import (
    MAX_BLOB_BYTES,
    MediaError,
    check_signature,
    inspect_image,
    process_image,
    render_variants,
    sniff_type,
)
from backend.media.store import BlobStore

MARKER = (255, 0, 255)  # magenta: painted in the stored top-left corner to see where it ends up

# ---------------------------------------------------------------------------------------------------
# Fixture makers


def scene(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A photo-ish image: gradients in each channel, a few shapes, a magenta top-left corner. The gradients
    stay below 160 so no other corner can pass for the marker."""
    width, height = size
    dim = [value * 160 // 255 for value in range(256)]
    red = Image.linear_gradient("L").resize(size).point(dim)
    green = Image.linear_gradient("L").rotate(90).resize(size).point(dim)
    blue = Image.radial_gradient("L").resize(size).point(dim)
    img = Image.merge("RGB", (red, green, blue))
    draw = ImageDraw.Draw(img)
    draw.ellipse((width // 3, height // 3, width // 2, height // 2), fill=(20, 160, 40))
    draw.rectangle((0, 0, width // 10, height // 10), fill=MARKER)
    return img.convert(mode) if mode != "RGB" else img


def encode(img: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def make_exif(
    orientation: int | None = None,
    taken: str | None = None,
    offset: str | None = None,
    gps: tuple[str, tuple, str, tuple] | None = None,
) -> Image.Exif:
    exif = Image.Exif()
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "FieldQ Test Camera"
    if taken is not None:
        ifd = exif.get_ifd(ExifTags.IFD.Exif)
        ifd[ExifTags.Base.DateTimeOriginal] = taken
        if offset is not None:
            ifd[ExifTags.Base.OffsetTimeOriginal] = offset
    if gps is not None:
        lat_ref, lat, lon_ref, lon = gps
        gps_ifd = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps_ifd[ExifTags.GPS.GPSLatitudeRef] = lat_ref
        gps_ifd[ExifTags.GPS.GPSLatitude] = lat
        gps_ifd[ExifTags.GPS.GPSLongitudeRef] = lon_ref
        gps_ifd[ExifTags.GPS.GPSLongitude] = lon
    return exif


SYDNEY = ("S", (IFDRational(33), IFDRational(52), IFDRational(1234, 100)), "E", (151.0, 12.0, 30.5))
SYDNEY_LAT = -(33 + 52 / 60 + 12.34 / 3600)
SYDNEY_LON = 151 + 12 / 60 + 30.5 / 3600
SECRET_XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description>FIELDQ-PRIVATE-XMP</rdf:Description></x:xmpmeta>'
)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def raw_png(
    width: int, height: int, bit_depth: int, color_type: int, rows: bytes, extra: bytes = b""
) -> bytes:
    """A PNG put together by hand: for what Pillow will not write (16-bit RGB, lying headers, bombs)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + extra
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def webp_chunks(data: bytes) -> list[bytes]:
    """The RIFF chunk names of a WebP file."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    names, offset = [], 12
    while offset + 8 <= len(data):
        name = data[offset : offset + 4]
        (size,) = struct.unpack("<I", data[offset + 4 : offset + 8])
        names.append(name)
        offset += 8 + size + (size & 1)
    return names


def refused(call, *args) -> MediaError:
    with pytest.raises(MediaError) as caught:
        call(*args)
    return caught.value


def assert_clean_webp(data: bytes) -> Image.Image:
    """A WebP with no metadata at all: no EXIF/XMP/ICC chunk, nothing from the source's tags."""
    chunks = webp_chunks(data)
    assert not {b"EXIF", b"XMP ", b"ICCP"} & set(chunks), chunks
    for leak in (b"Exif", b"FieldQ Test Camera", b"FIELDQ-PRIVATE-XMP", b"GPS"):
        assert leak not in data
    img = Image.open(io.BytesIO(data))
    assert img.format == "WEBP"
    assert dict(img.getexif()) == {}
    assert "icc_profile" not in img.info and "exif" not in img.info
    return img


def close_to(pixel: tuple, expected: tuple, tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=False))


@pytest.fixture(scope="module")
def phone_jpeg() -> bytes:
    """12 MP as a phone stores it held upright: 4000×3000 pixels + orientation 6, time, GPS, ICC, XMP."""
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = make_exif(orientation=6, taken="2026:03:14 09:26:53", offset="+08:00", gps=SYDNEY)
    return encode(scene((4000, 3000)), "JPEG", quality=90, exif=exif, icc_profile=srgb, xmp=SECRET_XMP)


# ---------------------------------------------------------------------------------------------------
# Type sniffing


def test_sniff_type_reads_content_not_names():
    small = scene((32, 24))
    assert sniff_type(encode(small, "JPEG")) == "image/jpeg"
    assert sniff_type(encode(small, "PNG")) == "image/png"
    assert sniff_type(encode(small, "WEBP")) == "image/webp"
    assert sniff_type(encode(small, "HEIF", quality=50)) == "image/heic"
    assert sniff_type(encode(small, "GIF")) is None
    assert sniff_type(encode(small, "BMP")) is None
    assert sniff_type(b"") is None
    assert sniff_type(b"%PDF-1.7 not an image") is None


def test_sniff_type_heif_brands():
    def ftyp(major: bytes, *compatible: bytes) -> bytes:
        body = b"ftyp" + major + b"\x00\x00\x00\x00" + b"".join(compatible)
        return struct.pack(">I", 4 + len(body)) + body + b"\x00" * 16

    assert sniff_type(ftyp(b"heic", b"mif1", b"heic")) == "image/heic"
    assert sniff_type(ftyp(b"heix")) == "image/heic"
    assert sniff_type(ftyp(b"mif1", b"mif1", b"heic")) == "image/heic"
    assert sniff_type(ftyp(b"avif", b"mif1", b"avif")) is None  # AVIF is not one of the four types
    assert sniff_type(ftyp(b"mif1", b"mif1", b"avif")) is None
    assert sniff_type(ftyp(b"isom", b"mp41")) is None  # an MP4 video


# ---------------------------------------------------------------------------------------------------
# Inspect


def test_media_error_is_a_domain_error_with_its_status():
    error = refused(inspect_image, b"hello")
    assert isinstance(error, DomainError)
    assert (error.code, error.status, error.status_code) == ("UNSUPPORTED_MEDIA_TYPE", 415, 415)


def test_truncated_images_are_never_loaded_grey():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_inspect_phone_jpeg_reads_orientation_time_and_place(phone_jpeg):
    info = inspect_image(phone_jpeg, "image/jpeg")
    assert info.content_type == "image/jpeg"
    assert (info.width, info.height) == (3000, 4000)  # upright: orientation 6 turns it portrait
    assert info.orientation == 6
    assert info.size_bytes == len(phone_jpeg)
    assert info.captured_at == datetime(2026, 3, 14, 9, 26, 53, tzinfo=timezone(timedelta(hours=8)))
    assert info.captured_at.astimezone(UTC) == datetime(2026, 3, 14, 1, 26, 53, tzinfo=UTC)
    assert info.gps_lat == pytest.approx(SYDNEY_LAT, abs=1e-6)
    assert info.gps_lon == pytest.approx(SYDNEY_LON, abs=1e-6)


def test_inspect_without_offset_takes_utc_and_without_tags_gives_none():
    exif = make_exif(taken="2025:12:31 23:59:58", gps=("N", (0.0, 0.0, 0.0), "E", (0.0, 0.0, 0.0)))
    info = inspect_image(encode(scene((300, 200)), "JPEG", exif=exif))
    assert info.captured_at == datetime(2025, 12, 31, 23, 59, 58, tzinfo=UTC)
    assert (info.gps_lat, info.gps_lon) == (None, None)  # 0/0 is "no fix", not a place
    bare = inspect_image(encode(scene((300, 200)), "JPEG"))
    assert (bare.captured_at, bare.gps_lat, bare.gps_lon, bare.orientation) == (None, None, None, 1)
    assert (bare.width, bare.height) == (300, 200)


def test_inspect_survives_garbage_exif_values():
    exif = make_exif(taken="0000:00:00 00:00:00", offset="+99:99")
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (IFDRational(1, 0), IFDRational(0), IFDRational(0))
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (10.0, 0.0, 0.0)
    info = inspect_image(encode(scene((120, 90)), "JPEG", exif=exif))
    assert (info.width, info.height) == (120, 90)
    assert (info.captured_at, info.gps_lat, info.gps_lon) == (None, None, None)


def test_west_and_south_are_negative():
    exif = make_exif(gps=("S", (12.0, 30.0, 0.0), "W", (77.0, 1.0, 48.0)))
    info = inspect_image(encode(scene((64, 48)), "WEBP", exif=exif))
    assert info.gps_lat == pytest.approx(-12.5)
    assert info.gps_lon == pytest.approx(-(77 + 1 / 60 + 48 / 3600))


@pytest.mark.parametrize(("fmt", "ctype"), [("PNG", "image/png"), ("WEBP", "image/webp")])
def test_png_and_webp_round_trip(fmt, ctype):
    exif = make_exif(orientation=8, taken="2026:01:02 03:04:05", offset="-05:00")
    data = encode(scene((640, 480)), fmt, exif=exif)
    info = inspect_image(data, ctype)
    assert (info.content_type, info.width, info.height, info.orientation) == (ctype, 480, 640, 8)
    assert info.captured_at == datetime(2026, 1, 2, 8, 4, 5, tzinfo=UTC)
    variants = render_variants(data)
    display = assert_clean_webp(variants.display.data)
    # Smaller than 2048 already: never upscaled, only turned upright (orientation 8 = 90° counter-clockwise).
    assert display.size == (480, 640) == (variants.display.width, variants.display.height)
    assert close_to(display.convert("RGB").getpixel((5, 635)), MARKER)
    thumb = assert_clean_webp(variants.thumbnail.data)
    assert thumb.size == (240, 320) == (variants.thumbnail.width, variants.thumbnail.height)


def test_heic_round_trip():
    heif = pillow_heif.from_pillow(scene((640, 480)))
    buffer = io.BytesIO()
    heif.save(buffer, quality=60)
    data = buffer.getvalue()
    info = inspect_image(data, "image/heic")
    assert (info.content_type, info.width, info.height, info.orientation) == ("image/heic", 640, 480, 1)
    variants = render_variants(data)
    display = assert_clean_webp(variants.display.data).convert("RGB")
    assert display.size == (640, 480)
    assert close_to(display.getpixel((5, 5)), MARKER)
    assert (variants.thumbnail.width, variants.thumbnail.height) == (320, 240)


def test_heic_from_an_iphone_is_accepted_and_upright():
    # An iPhone stores the sensor's pixels and the rotation in the container (irot) plus the EXIF tag;
    # pillow-heif's Pillow plugin writes the same from the EXIF orientation.
    exif = make_exif(orientation=6, taken="2026:05:01 12:00:00", offset="+02:00", gps=SYDNEY)
    data = encode(scene((640, 480)), "HEIF", quality=70, exif=exif.tobytes())
    assert data[4:12] == b"ftypheic"

    info = inspect_image(data, "image/heic")
    assert (info.content_type, info.width, info.height, info.orientation) == ("image/heic", 480, 640, 6)
    assert info.captured_at == datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    assert info.gps_lat == pytest.approx(SYDNEY_LAT, abs=1e-6)
    assert inspect_image(data, "image/heif").content_type == "image/heic"  # the alias some phones send

    variants = render_variants(data)
    display = assert_clean_webp(variants.display.data)
    assert display.size == (480, 640)
    # Stored top-left, turned 90° clockwise: top-right. Rotated exactly once, not twice.
    assert close_to(display.convert("RGB").getpixel((475, 5)), MARKER)
    assert not close_to(display.convert("RGB").getpixel((5, 635)), MARKER)


def test_phone_jpeg_variants_are_upright_sized_and_stripped(phone_jpeg):
    variants = render_variants(phone_jpeg)
    display = assert_clean_webp(variants.display.data)
    assert display.size == (1536, 2048) == (variants.display.width, variants.display.height)
    assert display.mode == "RGB"
    assert close_to(display.getpixel((1530, 5)), MARKER)  # top-left stored → top-right shown
    assert not close_to(display.getpixel((5, 5)), MARKER)
    thumb = assert_clean_webp(variants.thumbnail.data)
    assert thumb.size == (240, 320)
    assert close_to(thumb.convert("RGB").getpixel((236, 3)), MARKER)
    assert variants.display.content_type == "image/webp"


def test_process_image_is_inspect_and_render_in_one_pass(phone_jpeg):
    info, variants = process_image(phone_jpeg, "image/jpeg")
    assert info == inspect_image(phone_jpeg, "image/jpeg")
    assert (variants.display.width, variants.display.height) == (1536, 2048)
    assert (variants.thumbnail.width, variants.thumbnail.height) == (240, 320)
    assert_clean_webp(variants.display.data)
    assert refused(process_image, phone_jpeg, "image/png").code == "TYPE_MISMATCH"
    assert refused(process_image, phone_jpeg[:-5000]).message.startswith("the image is truncated")


def test_48_megapixel_photo_passes_and_decodes_at_half_size():
    size = (8064, 6048)  # 48.8 MP, just under the limit
    data = encode(Image.linear_gradient("L").resize(size).convert("RGB"), "JPEG", quality=70)
    info = inspect_image(data, "image/jpeg")
    assert (info.width, info.height) == size
    variants = render_variants(data)
    assert (variants.display.width, variants.display.height) == (2048, 1536)
    assert pipeline._reduction(size, 2048) == 2  # the JPEG draft decodes 4032×3024, ≥ 2048


# ---------------------------------------------------------------------------------------------------
# Refusals


def test_declared_type_must_match_the_content():
    png = encode(scene((40, 30)), "PNG")
    error = refused(inspect_image, png, "image/jpeg")
    assert (error.code, error.status) == ("TYPE_MISMATCH", 415)
    assert "image/jpeg" in error.message and "image/png" in error.message
    assert inspect_image(png, "image/PNG; charset=binary").content_type == "image/png"


def test_types_outside_the_four_are_refused():
    gif = encode(scene((40, 30)), "GIF")
    for data, declared in [
        (gif, "image/gif"),
        (gif, None),
        (b"just some text, honestly\n" * 10, "image/jpeg"),
        (random.Random(7).randbytes(5000), None),
        (b"", None),
        (encode(scene((40, 30)), "PNG"), "text/plain"),
    ]:
        error = refused(inspect_image, data, declared)
        assert (error.code, error.status) == ("UNSUPPORTED_MEDIA_TYPE", 415), (declared, error)
    assert "image/gif" in refused(inspect_image, gif, "image/gif").message


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_images_are_refused(fmt):
    data = encode(scene((800, 600)), fmt, quality=90) if fmt != "PNG" else encode(scene((800, 600)), fmt)
    for cut in (len(data) // 2, len(data) - 40):
        error = refused(inspect_image, data[:cut])
        assert (error.code, error.status) == ("INVALID_IMAGE", 422)
        assert error.message.startswith("the image is truncated: "), error.message
        assert refused(render_variants, data[:cut]).status == 422


def test_truncated_heic_and_png_without_iend_are_refused():
    heic = encode(scene((256, 192)), "HEIF", quality=50)
    assert refused(inspect_image, heic[: len(heic) - 200]).status == 422
    png = encode(scene((256, 192)), "PNG")
    error = refused(inspect_image, png[:-12])  # every pixel is there, the file is still cut
    assert (error.code, error.status) == ("INVALID_IMAGE", 422)
    assert "truncated" in error.message


def test_corrupt_jpeg_tables_are_refused():
    # Garbage in the Huffman tables. (Garbage inside the entropy-coded data is another matter: libjpeg
    # recovers with a warning Pillow does not surface, and decodes what it can, like a browser would.)
    data = bytearray(encode(scene((400, 300)), "JPEG", quality=90))
    tables = data.find(b"\xff\xc4")
    data[tables + 5 : tables + 30] = b"\xff" * 25
    error = refused(inspect_image, bytes(data))
    assert (error.code, error.status) == ("INVALID_IMAGE", 422)
    assert error.message.startswith("the image cannot be decoded: broken data stream")


def test_too_many_bytes_is_413_before_anything_else():
    data = encode(scene((40, 30)), "JPEG") + b"\x00" * (MAX_BLOB_BYTES + 1)
    error = refused(inspect_image, data, "image/gif")  # size is checked before the type
    assert (error.code, error.status) == ("IMAGE_TOO_LARGE", 413)
    assert "15.0 MiB" in error.message
    assert refused(render_variants, data).status == 413


def test_lying_png_header_is_refused_before_decoding():
    # 30000×30000 claimed, a few bytes of data: refused on the header (Pillow's own guard or ours).
    data = raw_png(30000, 30000, 8, 2, b"\x00" * 16)
    started = time.perf_counter()
    error = refused(inspect_image, data, "image/png")
    assert time.perf_counter() - started < 0.5
    assert (error.code, error.status) == ("TOO_MANY_PIXELS", 422)
    assert error.message == "30000×30000 pixels exceeds the 50,000,000 pixel limit"
    assert refused(render_variants, data).code == "TOO_MANY_PIXELS"


def test_tiny_file_huge_pixels_bomb_is_refused_fast():
    # A real, valid 1-bit PNG of 60 MP compresses to a few kB; decoded to RGB it would be 180 MB.
    bomb = encode(Image.new("1", (10_000, 6_000)), "PNG")
    assert len(bomb) < 100_000
    started = time.perf_counter()
    error = refused(inspect_image, bomb)
    assert time.perf_counter() - started < 0.5
    assert error.message == "10000×6000 pixels exceeds the 50,000,000 pixel limit"
    assert refused(render_variants, bomb).code == "TOO_MANY_PIXELS"


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_bomb_between_pillows_warning_and_error_and_with_warnings_as_errors():
    bomb = encode(Image.new("1", (12_000, 9_000)), "PNG")  # 108 MP: Pillow only warns
    assert refused(inspect_image, bomb).code == "TOO_MANY_PIXELS"
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        error = refused(inspect_image, bomb)
    assert (error.code, error.status) == ("TOO_MANY_PIXELS", 422)
    assert "12000×9000" in error.message


@pytest.mark.parametrize("chunk", ["zTXt", "iCCP"])
def test_png_compressed_chunk_bombs_are_refused(chunk):
    flood = zlib.compress(b"\x00" * (64 * 1024 * 1024), 9)  # 64 MiB of zeros in ~64 kB
    if chunk == "zTXt":
        extra = png_chunk(b"zTXt", b"Comment\x00\x00" + flood)
    else:
        extra = png_chunk(b"iCCP", b"icc\x00\x00" + flood)
    data = raw_png(4, 4, 8, 0, b"\x00\x80\x80\x80\x80" * 4, extra=extra)
    assert len(data) < 200_000
    started = time.perf_counter()
    error = refused(inspect_image, data)
    assert (error.code, error.status) == ("INVALID_IMAGE", 422)
    assert "too large" in error.message.lower()
    assert time.perf_counter() - started < 1.0


# ---------------------------------------------------------------------------------------------------
# Modes


def test_cmyk_jpeg_becomes_rgb():
    data = encode(Image.new("CMYK", (400, 300), (0, 255, 255, 0)), "JPEG", quality=95)  # red ink
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    assert inspect_image(data).content_type == "image/jpeg"
    display = assert_clean_webp(render_variants(data).display.data)
    assert display.mode == "RGB"
    assert close_to(display.getpixel((200, 150)), (255, 0, 0), tolerance=50)


def test_16_bit_grey_png_is_scaled_not_clipped():
    ramp = Image.linear_gradient("L").resize((256, 256)).convert("I").point(lambda v: v * 257)
    data = encode(ramp.convert("I;16"), "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    display = assert_clean_webp(render_variants(data).display.data).convert("L")
    low, high = display.getextrema()
    assert low < 10 and high > 245  # clipping would make it almost all white
    assert 100 < display.getpixel((128, 128)) < 156


def test_16_bit_rgb_png_is_read():
    width, height = 64, 32
    row = b"".join(struct.pack(">HHH", x * 1000, 65535 - x * 1000, 32768) for x in range(width))
    data = raw_png(width, height, 16, 2, (b"\x00" + row) * height)
    assert inspect_image(data, "image/png").width == width
    display = assert_clean_webp(render_variants(data).display.data).convert("RGB")
    assert display.size == (width, height)
    red, green, blue = display.getpixel((60, 16))
    assert red > 200 and green < 60 and 100 < blue < 156


def test_palette_png_keeps_its_transparency():
    img = Image.new("P", (200, 100), 0)
    img.putpalette([255, 255, 255, 200, 30, 30] + [0] * 762)
    ImageDraw.Draw(img).rectangle((50, 25, 150, 75), fill=1)
    data = encode(img, "PNG", transparency=0)
    display = assert_clean_webp(render_variants(data).display.data)
    assert display.mode == "RGBA"
    assert display.getpixel((5, 5))[3] == 0
    assert display.getpixel((100, 50))[3] == 255
    assert close_to(display.getpixel((100, 50))[:3], (200, 30, 30), tolerance=30)


def test_rgba_keeps_alpha_and_opaque_alpha_is_dropped():
    rgba = scene((300, 200), "RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((300, 200)))
    assert assert_clean_webp(render_variants(encode(rgba, "PNG")).display.data).mode == "RGBA"
    opaque = scene((300, 200), "RGBA")
    assert assert_clean_webp(render_variants(encode(opaque, "PNG")).display.data).mode == "RGB"


def test_embedded_colour_profiles_are_converted_not_carried():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    # The sRGB profile under another name: not skipped as sRGB, so it goes through a real transform.
    other = srgb.replace("sRGB".encode("utf-16-be"), "Wide".encode("utf-16-be"))
    assert ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(other))).startswith("Wide")
    pipeline._transform.cache_clear()
    img = Image.new("RGB", (300, 200), (200, 120, 40))
    for profile in (srgb, other, b"not an ICC profile at all"):
        data = encode(img, "JPEG", quality=95, icc_profile=profile)
        display = assert_clean_webp(render_variants(data).display.data)
        assert close_to(display.getpixel((150, 100)), (200, 120, 40), tolerance=8)
    converted = pipeline._transform(other, "RGB", "RGB")
    assert converted is not None  # the conversion really ran for the renamed profile
    assert pipeline._transform(srgb, "RGB", "RGB") is None  # and was skipped for sRGB itself


def test_animated_images_give_their_first_frame():
    frames = [Image.new("RGB", (120, 80), colour) for colour in ((220, 20, 20), (20, 20, 220))]
    for fmt in ("PNG", "WEBP"):
        data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100)
        assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2
        assert inspect_image(data).width == 120
        display = assert_clean_webp(render_variants(data).display.data).convert("RGB")
        assert close_to(display.getpixel((60, 40)), (220, 20, 20)), fmt


@pytest.mark.parametrize("resample", [Image.Resampling.BICUBIC, Image.Resampling.LANCZOS])
def test_parallel_strip_resize_matches_one_resize(resample):
    img = scene((3001, 2003))
    whole = img.resize((1533, 1023), resample)
    for strips in (2, 3):
        split = pipeline._resample(img, (1533, 1023), strips, resample)
        assert split.size == whole.size
        difference = ImageChops.difference(whole, split).getextrema()
        assert max(high for _low, high in difference) <= 1, (strips, difference)


# ---------------------------------------------------------------------------------------------------
# Signatures


def signature(background: tuple, ink: tuple, mode: str, size=(1200, 400), width=4) -> bytes:
    img = Image.new(mode, size, background)
    draw = ImageDraw.Draw(img)
    rnd = random.Random(3)
    points = [(80 + i * 25, 200 + int(90 * ((i % 5) - 2) / 2) + rnd.randint(-20, 20)) for i in range(40)]
    draw.line(points, fill=ink, width=width, joint="curve")
    draw.line([(150, 320), (900, 300)], fill=ink, width=width)
    return encode(img, "PNG")


def test_real_signatures_pass():
    on_transparent = check_signature(signature((0, 0, 0, 0), (10, 10, 60, 255), "RGBA"))
    on_white = check_signature(signature((255, 255, 255), (0, 0, 0), "RGB"))
    light_on_dark = check_signature(signature((20, 20, 20), (250, 250, 250), "RGB"))
    grey = check_signature(signature(255, 0, "L"))
    for info in (on_transparent, on_white, light_on_dark, grey):
        assert (info.width, info.height) == (1200, 400)
        assert 0.002 < info.coverage < 0.1
        left, top, right, bottom = info.ink_box
        assert left < 100 and right > 1000 and top < 150 and bottom > 300
    assert on_transparent.coverage == pytest.approx(on_white.coverage, rel=0.1)


@pytest.mark.parametrize(
    ("name", "img", "words"),
    [
        ("blank transparent", Image.new("RGBA", (1200, 400), (0, 0, 0, 0)), "blank"),
        ("blank white", Image.new("RGB", (1200, 400), "white"), "blank"),
        ("fully black", Image.new("RGB", (1200, 400), "black"), "blank"),
        ("fully black, opaque alpha", Image.new("RGBA", (1200, 400), (0, 0, 0, 255)), "blank"),
        ("faint strokes", None, "blank"),
        ("a small dot", None, "blank"),
        ("a big dot", None, "only a dot"),
        ("filled on transparent", None, "not a signature"),
    ],
)
def test_blank_and_implausible_signatures_are_refused(name, img, words):
    if name == "faint strokes":
        data = signature((255, 255, 255), (235, 235, 235), "RGB")  # too little contrast to be ink
    elif name == "a small dot":
        img = Image.new("RGBA", (1200, 400), (0, 0, 0, 0))
        ImageDraw.Draw(img).ellipse((600, 200, 606, 206), fill=(0, 0, 0, 255))
    elif name == "a big dot":
        img = Image.new("RGB", (1200, 400), "white")
        ImageDraw.Draw(img).ellipse((600, 200, 650, 250), fill="black")  # 0.4 % coverage, but one blob
    elif name == "filled on transparent":
        img = Image.new("RGBA", (1200, 400), (0, 0, 0, 0))
        ImageDraw.Draw(img).rectangle((20, 20, 1180, 380), fill=(0, 0, 0, 255))
    if name != "faint strokes":
        data = encode(img, "PNG")
    error = refused(check_signature, data)
    assert (error.code, error.status) == ("BLANK_SIGNATURE", 422), name
    assert words in error.message, error.message
    if words != "only a dot":
        assert "%" in error.message  # the measured coverage is named


def test_signature_must_be_a_png_within_limits():
    jpeg = encode(Image.open(io.BytesIO(signature((255, 255, 255), (0, 0, 0), "RGB"))), "JPEG")
    error = refused(check_signature, jpeg)
    assert (error.code, error.status) == ("NOT_PNG", 415)
    assert "image/jpeg" in error.message
    assert refused(check_signature, b"<svg/>").code == "UNSUPPORTED_MEDIA_TYPE"
    big = encode(Image.new("1", (4001, 100), 1), "PNG")
    error = refused(check_signature, big)
    assert (error.code, error.status) == ("TOO_MANY_PIXELS", 422)
    assert "4001×100" in error.message
    cut = signature((0, 0, 0, 0), (0, 0, 0, 255), "RGBA")
    assert refused(check_signature, cut[: len(cut) // 2]).status == 422
    assert refused(check_signature, b"\x89PNG\r\n\x1a\n" + b"\x00" * (MAX_BLOB_BYTES)).status == 413


# ---------------------------------------------------------------------------------------------------
# Blob store


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_put_exists_read_and_layout(tmp_path):
    blobs = BlobStore(tmp_path / "blobs")
    data = encode(scene((64, 48)), "PNG")
    digest = sha(data)
    assert not blobs.exists(digest)
    assert blobs.put(digest, data) is True
    assert blobs.put(digest, data) is False  # idempotent: the second upload changes nothing
    assert blobs.exists(digest)
    assert blobs.read(digest) == data
    assert blobs.path_for(digest) == tmp_path / "blobs" / digest[:2] / digest[2:]
    assert blobs.variant_path(digest, "thumbnail") == (
        tmp_path / "blobs" / "derived" / digest[:2] / f"{digest}.thumbnail.webp"
    )
    leftovers = [p.name for p in (tmp_path / "blobs").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_hash_mismatch_is_400_and_stores_nothing(tmp_path):
    blobs = BlobStore(tmp_path)
    data = b"some bytes"
    other = sha(b"other bytes")
    error = refused(blobs.put, other, data)
    assert (error.code, error.status) == ("HASH_MISMATCH", 400)
    assert sha(data) in error.message
    assert not blobs.exists(other)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "bad",
    [
        sha(b"x").upper(),
        "../" * 21 + "a",
        "a" * 63,
        "a" * 65,
        sha(b"x") + "\n",
        "../../etc/passwd",
        "g" * 64,
        "٣" * 64,  # Arabic-Indic digits are "digits" to str.isdigit, not to us
        "",
    ],
)
def test_invalid_sha_strings_never_become_paths(tmp_path, bad):
    blobs = BlobStore(tmp_path)
    assert BlobStore.is_valid_sha(bad) is False
    for call in (blobs.path_for, blobs.exists, blobs.read, lambda s: blobs.put(s, b"x")):
        error = refused(call, bad)
        assert (error.code, error.status) == ("INVALID_SHA256", 400)
    assert BlobStore.is_valid_sha(sha(b"x")) is True
    assert BlobStore.is_valid_sha(None) is False


def test_concurrent_puts_report_created_once(tmp_path):
    blobs = BlobStore(tmp_path)
    data = os.urandom(200_000)
    digest = sha(data)
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def put() -> None:
        barrier.wait()
        results.append(blobs.put(digest, data))

    threads = [threading.Thread(target=put) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True]
    assert blobs.read(digest) == data


def test_ensure_variants_renders_once(tmp_path, monkeypatch):
    blobs = BlobStore(tmp_path)
    data = encode(scene((900, 600)), "JPEG", exif=make_exif(orientation=3))
    digest = sha(data)
    assert refused(blobs.ensure_variants, digest).code == "NOT_FOUND"
    blobs.put(digest, data)
    paths = blobs.ensure_variants(digest)
    assert set(paths) == {"display", "thumbnail"}
    display = assert_clean_webp(paths["display"].read_bytes())
    assert display.size == (900, 600)
    assert close_to(display.convert("RGB").getpixel((895, 595)), MARKER)  # orientation 3: turned 180°
    assert assert_clean_webp(paths["thumbnail"].read_bytes()).size == (320, 213)
    stamps = {name: path.stat().st_mtime_ns for name, path in paths.items()}

    def no_second_render(_data: bytes):
        raise AssertionError("rendered again")

    monkeypatch.setattr(store, "render_variants", no_second_render)
    assert blobs.ensure_variants(digest) == paths
    assert {name: path.stat().st_mtime_ns for name, path in paths.items()} == stamps


def test_ensure_variants_takes_ready_renditions_and_survives_a_race(tmp_path):
    blobs = BlobStore(tmp_path)
    data = encode(scene((500, 400)), "PNG")
    digest = sha(data)
    blobs.put(digest, data)
    rendered = render_variants(data)
    paths = blobs.ensure_variants(digest, rendered)
    assert paths["display"].read_bytes() == rendered.display.data

    other = encode(scene((400, 500)), "WEBP")
    other_sha = sha(other)
    blobs.put(other_sha, other)
    results: list[dict] = []
    threads = [
        threading.Thread(target=lambda: results.append(blobs.ensure_variants(other_sha))) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3 and all(result == results[0] for result in results)
    assert Image.open(results[0]["display"]).size == (400, 500)
    assert not [p for p in Path(tmp_path).rglob("*.tmp")]


def test_ensure_variants_of_a_stored_non_image_is_422(tmp_path):
    blobs = BlobStore(tmp_path)
    data = encode(scene((300, 200)), "JPEG")[:-500]
    blobs.put(sha(data), data)
    assert refused(blobs.ensure_variants, sha(data)).status == 422
    assert not blobs.variant_path(sha(data), "display").exists()


def test_a_crafted_capture_date_at_the_edge_of_the_calendar_is_dropped_not_a_crash():
    from backend.media.pipeline import _parse_exif_datetime

    assert _parse_exif_datetime("0001:01:01 00:00:00", "+05:00") is None
    assert _parse_exif_datetime("9999:12:31 23:00:00", "-12:00") is None
    assert _parse_exif_datetime("1985:06:01 10:00:00") is None
    kept = _parse_exif_datetime("2026:11:20 09:15:00", "+08:00")
    assert kept is not None and kept.isoformat() == "2026-11-20T01:15:00+00:00"
