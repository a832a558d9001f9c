"""A task a part of the control plane runs for as long as it runs, started and stopped by it.

Several parts (the policy directory watcher, the fleet sharing, the ejection
history) each keep one loop going beside the event loop's other work; how
such a task is started under a name and how it is stopped (cancelled, then
awaited so that nothing of it outlives the part) is written here once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


class Background:
    """At most one running task, named for logs and debuggers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._task: asyncio.Task[None] | None = None

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        self._task = asyncio.get_running_loop().create_task(work, name=self.name)

    async def stop(self) -> None:
        """Cancel the task and wait until it has ended; nothing to do when none runs."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
