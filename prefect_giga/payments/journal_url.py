"""Where the payment journal lives: a SQLite file or a PostgreSQL database, and how to name it
without showing its password.

``$GIGA_JOURNAL_URL`` (``postgresql://user:password@host:5432/db``) chooses a PostgreSQL
journal; otherwise ``$GIGA_JOURNAL_PATH`` (or ``~/.prefect-giga/journal.sqlite3``) names the
SQLite file. An explicit ``url`` or ``path`` given in code wins over both variables.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import SecretStr

from ..core.exceptions import GigaConfigError

__all__ = [
    "DEFAULT_JOURNAL_PATH",
    "ENV_JOURNAL_PATH",
    "ENV_JOURNAL_URL",
    "POSTGRES_SCHEMES",
    "default_journal_path",
    "journal_target",
    "redact_url",
]

ENV_JOURNAL_PATH = "GIGA_JOURNAL_PATH"
ENV_JOURNAL_URL = "GIGA_JOURNAL_URL"
DEFAULT_JOURNAL_PATH = Path("~/.prefect-giga/journal.sqlite3")
POSTGRES_SCHEMES = ("postgresql", "postgres")
"""URL schemes that choose the PostgreSQL journal."""

_HIDDEN = "***"
_SECRET_PARAMS = frozenset({"password", "sslpassword"})


def default_journal_path() -> Path:
    """``$GIGA_JOURNAL_PATH`` or ``~/.prefect-giga/journal.sqlite3``.

    Example:
        >>> default_journal_path().name
        'journal.sqlite3'
    """
    configured = os.environ.get(ENV_JOURNAL_PATH)
    return Path(configured).expanduser() if configured else DEFAULT_JOURNAL_PATH.expanduser()


def redact_url(url: str) -> str:
    """``url`` with its password (and any ``password=`` parameter) replaced by ``***``.

    A URL that cannot be parsed is not shown at all.

    Example:
        >>> redact_url("postgresql://giga:s3cret@db.internal:5432/journal")
        'postgresql://giga:***@db.internal:5432/journal'
        >>> redact_url("postgresql://db/journal?user=giga&password=s3cret")
        'postgresql://db/journal?user=giga&password=%2A%2A%2A'
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None or "@" in netloc:
            userinfo, _, hostinfo = netloc.rpartition("@")
            user = userinfo.partition(":")[0]
            netloc = f"{user}:{_HIDDEN}@{hostinfo}" if ":" in userinfo else netloc
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode(
                [(k, _HIDDEN if k.lower() in _SECRET_PARAMS else v) for k, v in pairs]
            )
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        return "(a journal URL that could not be parsed; not shown)"


def _scheme(url: str) -> str:
    head, sep, _ = url.partition("://")
    return head.lower() if sep else ""


def journal_target(
    path: str | Path | None = None, url: str | SecretStr | None = None
) -> tuple[Path | None, str | None]:
    """Which journal to open: ``(SQLite file, None)`` or ``(None, PostgreSQL URL)``.

    ``url`` wins, then ``path``, then ``$GIGA_JOURNAL_URL``, then ``$GIGA_JOURNAL_PATH`` or
    the default file.

    Raises:
        GigaConfigError: Both ``path`` and ``url`` were given, or the URL is not a
            ``postgresql://`` one (the error never shows the URL's password).

    Example:
        >>> journal_target("j.sqlite3")
        (PosixPath('j.sqlite3'), None)
        >>> journal_target(url="postgresql://db/journal")
        (None, 'postgresql://db/journal')
    """
    if path is not None and url is not None:
        raise GigaConfigError("Give the payment journal a path or a url, not both")
    if isinstance(url, SecretStr):
        url = url.get_secret_value()
    if url is None and path is None:
        url = os.environ.get(ENV_JOURNAL_URL) or None
    if url is None:
        return (Path(path).expanduser() if path is not None else default_journal_path()), None
    url = url.strip()
    if _scheme(url) not in POSTGRES_SCHEMES:
        raise GigaConfigError(
            f"The payment journal URL must start with postgresql:// (got "
            f"{redact_url(url) if '://' in url else 'a value without a scheme'}); for a SQLite "
            f"journal set {ENV_JOURNAL_PATH} to a file instead"
        )
    return None, url
