"""Moved to `prefect_giga.client.files` (old imports and saved results use this path)."""

from .client.files import (
    DEFAULT_MAX_REQUEST_BYTES,
    AttachmentInput,
    DownloadedFile,
    encode_attachments,
    matches_any,
    safe_destination,
    write_stream_atomically,
)

__all__ = [
    "DEFAULT_MAX_REQUEST_BYTES",
    "AttachmentInput",
    "DownloadedFile",
    "encode_attachments",
    "matches_any",
    "safe_destination",
    "write_stream_atomically",
]
