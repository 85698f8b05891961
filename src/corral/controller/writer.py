"""The store's one writer: every change of the job book (its rows and event records) is
committed here before it is acknowledged, and only then applied in memory.

`StoreWriter` (the live controller) commits in one dedicated thread, so that no blocking
database call runs on the event loop. The changes that queue up while a commit is under way
(the submits of a burst) are committed together in the next transaction and acknowledged
together, in the order they were made: each is then applied to memory and published, in
that order. A failed commit fails each change of it, and every change queued behind it (it
was made on top of them), with nothing applied in memory.

`InlineWriter` commits in the caller's thread at once (tests, in-process drivers): an
operation of the job manager then never suspends, and `drive` runs it to its end without an
event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from corral.model.job import Job
from corral.store.store import EventRecord, Store

log = logging.getLogger("corral.controller")

T = TypeVar("T")


@dataclass(frozen=True, slots=True, eq=False)
class Change:
    """One change of the job book: its rows (job, is new) and event records, what applies
    it in memory once committed, and what withdraws it when its commit failed."""

    rows: Sequence[tuple[Job, bool]]
    records: Sequence[EventRecord]
    applied: Callable[[], None]
    failed: Callable[[], None]


class _Ready:
    """An awaitable that is already over: awaiting it never suspends."""

    __slots__ = ("value",)

    def __init__(self, value: Any = None) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, Any]:
        return self.value
        yield  # a generator, that never yields


def ready(value: Any = None) -> Awaitable[Any]:
    """An awaitable already over, with `value`."""
    return _Ready(value)


class Writer(Protocol):
    def stage(self, change: Change) -> Awaitable[None]:
        """Hands a change over; the awaitable ends once it is committed and applied."""

    def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Awaitable[T]:
        """Runs a blocking read of the store off the event loop."""

    def write(self, fn: Callable[..., T], *args: Any) -> Awaitable[T]:
        """Runs a blocking write of the store other than a job change (a node record,
        the account tree, fair-share usage) in the writer's thread, in the order asked."""


class InlineWriter:
    """Commits each change at once, in the caller's thread (a failure raises from stage)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def stage(self, change: Change) -> Awaitable[None]:
        try:
            self.store.commit(change.rows, change.records)
        except BaseException:
            change.failed()
            raise
        change.applied()
        return _Ready()

    def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Awaitable[T]:
        return _Ready(fn(*args, **kwargs))

    def write(self, fn: Callable[..., T], *args: Any) -> Awaitable[T]:
        return _Ready(fn(*args))


class StoreWriter:
    """Commits in one thread of its own; what queued meanwhile goes in one transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: deque[tuple[Change, asyncio.Future[None]]] = deque()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="corral-writer")
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # transactions committed (bench and tests look)
        self._busy = False  # a batch is being committed

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Commits what is queued, then stops the thread."""
        if self._task is not None:
            while self._queue or self._busy:
                await asyncio.sleep(0.01)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for _, future in self._queue:
            future.cancel()
        self._queue.clear()
        self._executor.shutdown(wait=True)

    def stage(self, change: Change) -> Awaitable[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((change, future))
        self._wake.set()
        return future

    def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Awaitable[T]:
        return asyncio.to_thread(fn, *args, **kwargs)

    def write(self, fn: Callable[..., T], *args: Any) -> Awaitable[T]:
        # Handed to the one writer thread at once: writes run one at a time, in the order
        # asked, between the job book's transactions.
        return asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = list(self._queue)
            self._queue.clear()
            rows = [row for change, _ in batch for row in change.rows]
            records = [record for change, _ in batch for record in change.records]
            self._busy = True
            try:
                await loop.run_in_executor(self._executor, self.store.commit, rows, records)
            except asyncio.CancelledError:
                self._fail(batch, asyncio.CancelledError())
                raise
            except Exception as exc:
                self._busy = False
                # What queued meanwhile was made on top of the failed changes: it fails too.
                failed = batch + list(self._queue)
                self._queue.clear()
                self._fail(failed, exc)
                continue
            self._busy = False
            self.batches += 1
            for change, future in batch:
                try:
                    change.applied()
                except Exception as exc:  # committed, but carrying it out failed
                    log.exception("applying a committed change failed")
                    if not future.done():
                        future.set_exception(exc)
                    continue
                if not future.done():
                    future.set_result(None)

    @staticmethod
    def _fail(failed: Sequence[tuple[Change, asyncio.Future[None]]], exc: BaseException) -> None:
        for change, future in reversed(failed):
            change.failed()
            if not future.done():
                future.set_exception(exc)
        for _, future in failed:  # retrieved here: a caller that went away is not warned
            if not future.cancelled():
                future.exception()


def drive(operation: Coroutine[Any, Any, T]) -> T:
    """Runs an operation of a job manager with an InlineWriter to its end, without an event
    loop (it never suspends)."""
    try:
        operation.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    operation.close()
    raise RuntimeError("the operation suspended: drive() needs a job manager with an InlineWriter")
