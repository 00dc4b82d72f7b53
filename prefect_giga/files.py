"""Moved to `prefect_giga.client.files` (old imports and saved results use this path)."""

from .client.files import (
    DEFAULT_MAX_REQUEST_BYTES as DEFAULT_MAX_REQUEST_BYTES,
)
from .client.files import (
    AttachmentInput as AttachmentInput,
)
from .client.files import (
    DownloadedFile as DownloadedFile,
)
from .client.files import (
    encode_attachments as encode_attachments,
)
from .client.files import (
    matches_any as matches_any,
)
from .client.files import (
    safe_destination as safe_destination,
)
from .client.files import (
    write_stream_atomically as write_stream_atomically,
)
