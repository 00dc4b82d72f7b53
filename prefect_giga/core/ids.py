"""Run ids: the grammar every id from the server must match before it names anything.

A run id becomes a folder name, a journal row, an artifact key and an event resource, so a
server-supplied value is checked here first: letters, digits, ``_`` and ``-``, 1 to 128 of them.
Nothing that can climb out of a folder (``..``, ``/``, ``\\``) or hide in a key gets through.
"""

from __future__ import annotations

import re

from .exceptions import GigaConfigError, GigaProtocolError

__all__ = ["RUN_ID_PATTERN", "check_asked_run_id", "check_run_id", "is_valid_run_id"]

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
"""What a run id may look like."""


def is_valid_run_id(value: object) -> bool:
    """Whether ``value`` is a run id this client will use.

    Example:
        >>> is_valid_run_id("run_01HX-abc")
        True
        >>> is_valid_run_id("../../etc")
        False
    """
    return isinstance(value, str) and RUN_ID_PATTERN.fullmatch(value) is not None


def check_run_id(value: object, what: str) -> str:
    """``value`` when it is a valid run id.

    Raises:
        GigaProtocolError: It is not (the message shows only a short, escaped excerpt).

    Example:
        >>> check_run_id("run_1", "read run_1")
        'run_1'
    """
    if not is_valid_run_id(value):
        shown = repr(value)[:40]
        raise GigaProtocolError(
            f"{what}: the server sent a run id that is not a valid id ({shown}); refused"
        )
    assert isinstance(value, str)
    return value


def check_asked_run_id(value: object) -> str:
    """``value`` when it is a valid run id the caller asks about (before anything is sent).

    Raises:
        GigaConfigError: It is not a valid run id; nothing was sent.

    Example:
        >>> check_asked_run_id("run_1")
        'run_1'
    """
    if not is_valid_run_id(value):
        raise GigaConfigError(
            f"{repr(value)[:40]} is not a valid run id (letters, digits, '_' and '-', 1 to 128 "
            "of them); nothing was sent"
        )
    assert isinstance(value, str)
    return value
