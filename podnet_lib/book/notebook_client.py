"""Headless execution of the chapters (the tests and the HTML edition), without lost wake-ups.

nbclient waits for a cell's reply with one long poll of an asyncio ZeroMQ socket. Now and then
(about one run in four of chapter 01, whose widgets send many messages) that poll misses the
wake-up of a message that has already arrived and sleeps until the cell timeout (300 s) before
reading it, so a 20-second chapter takes five minutes. `SteadyNotebookClient` waits in short
polls instead: a missed wake-up costs at most `POLL_SECONDS`, and the cell timeout still holds.
"""
from __future__ import annotations

import time
from queue import Empty
from typing import Any, Awaitable, Callable

from nbclient import NotebookClient

POLL_SECONDS = 0.5

GetMsg = Callable[..., Awaitable[dict]]


def short_polls(get_msg: GetMsg, poll: float = POLL_SECONDS) -> GetMsg:
    """A channel's `get_msg(timeout)` that polls every `poll` seconds until `timeout` (None: forever).

    Raises queue.Empty, as the original does, when nothing arrived within `timeout`.
    """
    async def get(timeout: float | None = None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic()))
            try:
                return await get_msg(timeout=left)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    return get


class SteadyNotebookClient(NotebookClient):
    """nbclient's NotebookClient whose shell and IOPub reads wait in short polls."""

    async def async_start_new_kernel_client(self) -> Any:
        kc = await super().async_start_new_kernel_client()
        for channel in (kc.shell_channel, kc.iopub_channel):
            channel.get_msg = short_polls(channel.get_msg)
        return kc
