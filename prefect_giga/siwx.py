"""Moved to `prefect_giga.core.siwx` (old imports and saved results use this path)."""

from .core.siwx import (
    DEFAULT_STATEMENT,
    SIWX_EXTENSION,
    SIWX_HEADER,
    SiwxInfo,
    check_challenge_origin,
    client_made_info,
    encode_proof,
    format_siwe_message,
    parse_challenge,
    sign_in,
)

__all__ = [
    "DEFAULT_STATEMENT",
    "SIWX_EXTENSION",
    "SIWX_HEADER",
    "SiwxInfo",
    "check_challenge_origin",
    "client_made_info",
    "encode_proof",
    "format_siwe_message",
    "parse_challenge",
    "sign_in",
]
