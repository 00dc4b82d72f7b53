"""Idempotency keys for paid starts made from Prefect: one key per logical start.

A key is stable across task retries, flow-run retries and a new flow run with the same
``batch_id``, so each of them re-attaches to the run already paid for instead of paying again.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect.context import FlowRunContext, TaskRunContext

from .client.files import AttachmentInput
from .credentials import GigaCredentials
from .flow_scope import current_scope
from .results import PromptItem

__all__ = ["batch_item_key", "logical_key", "start_cache_key", "start_key"]


def _files_digest(files: Sequence[AttachmentInput] | None) -> str:
    digest = hashlib.sha256()
    for item in files or ():
        digest.update(repr(item if isinstance(item, (str, Path)) else type(item)).encode())
        if isinstance(item, bytes):
            digest.update(hashlib.sha256(item).digest())
    return digest.hexdigest()[:16]


def start_key(
    address: str,
    prompt: str,
    *,
    tier: str | None = None,
    files: Sequence[AttachmentInput] | None = None,
    scope: str,
    item: str | int,
    idempotency_key: str | None = None,
) -> str:
    """The idempotency key of one logical start.

    Scoped to the wallet always; then either the caller's ``idempotency_key``, or the scope
    (the flow run, or a caller's ``batch_id``) plus the item (its position and content). A
    retried task or flow run keeps its key, so it pays nothing twice; tomorrow's scheduled
    run has a new flow run id, so it is a new job.

    Example:
        >>> a = start_key("0xabc", "hi", scope="flow-1", item=0)
        >>> a == start_key("0xABC", "hi", scope="flow-1", item=0)
        True
        >>> a == start_key("0xabc", "hi", scope="flow-1", item=1)
        False
    """
    if idempotency_key is not None:
        material = ["explicit", address.lower(), idempotency_key]
    else:
        material = [
            "item",
            address.lower(),
            scope,
            str(item),
            tier or "",
            hashlib.sha256(prompt.encode("utf-8")).hexdigest(),
            _files_digest(files),
        ]
    return "giga-" + hashlib.sha256(json.dumps(material).encode()).hexdigest()[:40]


def batch_item_key(address: str, item: PromptItem, *, scope: str, index: int) -> str:
    """The idempotency key of item ``index`` of the batch ``scope`` (its ``batch_id``, or its
    flow run): the one key every run, chunk and report of the batch uses for that item.

    Example:
        >>> key = batch_item_key("0xabc", PromptItem(prompt="Summarise"), scope="b-1", index=0)
        >>> key == batch_item_key("0xabc", PromptItem(prompt="Summarise"), scope="b-1", index=0)
        True
    """
    return start_key(
        address,
        item.prompt,
        tier=item.tier,
        files=item.files or None,
        scope=scope,
        item=index,
        idempotency_key=item.idempotency_key,
    )


def logical_key(
    context: TaskRunContext | None,
    credentials: GigaCredentials,
    prompt: str,
    tier: str | None,
    files: Sequence[AttachmentInput] | None,
    idempotency_key: str | None,
    batch_id: str | None,
    item_index: int | None,
) -> str:
    """The start's idempotency key, computed once per task run (its retries share it).

    Without ``item_index`` the item is the call's content plus its occurrence: the n-th
    identical start of a flow-run attempt. A retried flow run makes the same calls again, so
    its n-th identical call gets the same key; two identical prompts are still two items.
    The keys and counters live in the flow run's `FlowScope`, released when the run ends.
    """
    if context is None:
        return start_key(
            credentials.address,
            prompt,
            tier=tier,
            files=files,
            scope=batch_id or f"adhoc-{uuid.uuid4()}",
            item=item_index or 0,
            idempotency_key=idempotency_key,
        )
    task_run = context.task_run
    scope = current_scope()
    known = scope.known_key(str(task_run.id)) if scope is not None else None
    if known is not None:
        return known
    flow_run_id = str(task_run.flow_run_id or task_run.id)
    batch_scope = batch_id or flow_run_id
    if item_index is not None:
        item = str(item_index)
    else:
        flow_context = FlowRunContext.get()
        attempt = flow_context.flow_run.run_count if flow_context and flow_context.flow_run else 0
        content = start_key(credentials.address, prompt, tier=tier, files=files, scope="", item="")
        counter = (flow_run_id, str(attempt), batch_scope, content)
        occurrence = scope.next_occurrence(counter) if scope is not None else 0
        item = f"occurrence-{occurrence}"
    key = start_key(
        credentials.address,
        prompt,
        tier=tier,
        files=files,
        scope=batch_scope,
        item=item,
        idempotency_key=idempotency_key,
    )
    if scope is not None:
        scope.remember_key(str(task_run.id), key)
    return key


def start_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """The Prefect cache key of a start task: its logical key (so a retry hits the cache)."""
    return logical_key(
        context,
        parameters["credentials"],
        parameters["prompt"],
        parameters.get("tier"),
        parameters.get("files"),
        parameters.get("idempotency_key"),
        parameters.get("batch_id"),
        parameters.get("item_index"),
    )
