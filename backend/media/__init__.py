"""Photos and signatures: the Pillow pipeline (pipeline.py) and the content-addressed blobs (store.py)."""

from backend.media.pipeline import (
    ACCEPTED_TYPES,
    DISPLAY_LONG_EDGE,
    MAX_BLOB_BYTES,
    MAX_PIXELS,
    SIGNATURE_MAX_EDGE,
    THUMB_LONG_EDGE,
    VARIANT_CONTENT_TYPE,
    ImageInfo,
    MediaError,
    Rendition,
    SignatureInfo,
    Variants,
    check_signature,
    inspect_image,
    process_image,
    render_variants,
    sniff_type,
)
from backend.media.store import VARIANT_NAMES, BlobStore

__all__ = [
    "ACCEPTED_TYPES",
    "DISPLAY_LONG_EDGE",
    "MAX_BLOB_BYTES",
    "MAX_PIXELS",
    "SIGNATURE_MAX_EDGE",
    "THUMB_LONG_EDGE",
    "VARIANT_CONTENT_TYPE",
    "VARIANT_NAMES",
    "BlobStore",
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
