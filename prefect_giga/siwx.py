"""Moved to `prefect_giga.core.siwx` (old imports and saved results use this path)."""

from .core.siwx import (
    DEFAULT_STATEMENT as DEFAULT_STATEMENT,
)
from .core.siwx import (
    SIWX_EXTENSION as SIWX_EXTENSION,
)
from .core.siwx import (
    SIWX_HEADER as SIWX_HEADER,
)
from .core.siwx import (
    SiwxInfo as SiwxInfo,
)
from .core.siwx import (
    check_challenge_origin as check_challenge_origin,
)
from .core.siwx import (
    client_made_info as client_made_info,
)
from .core.siwx import (
    encode_proof as encode_proof,
)
from .core.siwx import (
    format_siwe_message as format_siwe_message,
)
from .core.siwx import (
    parse_challenge as parse_challenge,
)
from .core.siwx import (
    sign_in as sign_in,
)
