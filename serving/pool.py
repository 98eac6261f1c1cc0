"""A bounded pool for heavy requests: work beyond its size is refused at once (429), never queued behind other
work, and a slot is only freed when the work itself ends (a timed-out request still holds its worker)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

T = TypeVar("T")


class PoolFull(Exception):
    """Every worker of the pool is busy."""


class BoundedPool:
    def __init__(self, executor: Executor, workers: int):
        if workers < 1:
            raise ValueError(f"at least one worker is needed, got {workers}")
        self.workers = workers
        self._executor = executor
        self._free = threading.BoundedSemaphore(workers)

    async def run(self, fn: Callable[..., T], *args) -> T:
        """``fn(*args)`` on a free worker, awaited; ``PoolFull`` when there is none."""
        if not self._free.acquire(blocking=False):
            raise PoolFull(f"at most {self.workers} at a time")
        try:
            future = self._executor.submit(fn, *args)
        except BaseException:
            self._free.release()
            raise
        future.add_done_callback(lambda _: self._free.release())
        return await asyncio.wrap_future(future)

    def busy(self) -> int:
        return self.workers - self._free._value  # noqa: SLF001 - the semaphore's count is the truth

    def kill(self) -> None:
        """End a broken process pool: its surviving workers ignore SIGTERM (they belong to the server's shutdown),
        which is all the executor sends them."""
        for process in (getattr(self._executor, "_processes", None) or {}).values():
            process.kill()
        self._executor.shutdown(wait=False)

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking work; what runs finishes (without ``wait``, in the background)."""
        self._executor.shutdown(wait=wait)
