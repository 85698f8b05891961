"""The live controller: its state (the job manager, the node registry) and its scheduling loop.

The routes (controller/routes/) call into it; create_app (controller/app.py) builds one per
application and hands it to them through request.app.state.controller.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import socket
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from corral.controller.jobs import JobManager
from corral.controller.jobtoken import token_key
from corral.controller.nodes import Node, NodeRegistry
from corral.controller.observers import Observers
from corral.controller.records import job_record, node_record
from corral.controller.writer import StoreWriter
from corral.model.job import Job
from corral.settings import ControllerSettings
from corral.store.store import Store

log = logging.getLogger("corral.controller")

# Passes over fewer jobs than this are decided in the event loop (they take milliseconds).
INLINE_PASS = 2000


class Controller:
    """Holds the live state and runs the scheduling loop; the routes call into it."""

    def __init__(self, settings: ControllerSettings, store: Store, clock: Callable[[], float]) -> None:
        if not settings.job_token_key:
            settings = replace(settings, job_token_key=token_key(settings.data_dir))
        self.settings = settings
        self.store = store
        self.clock = clock
        # Committed changes of jobs and nodes, for whatever watches them (controller/observers.py).
        self.observers = Observers()
        # The store's one writer: commits in a thread of its own, a burst in one transaction;
        # node records, the account tree and fair-share usage are saved in that thread too.
        self.writer = StoreWriter(store)
        self.registry = NodeRegistry((Node.restore(r) for r in store.load_nodes().values()),
                                     observers=self.observers, save=store.save_node,
                                     writer=self.writer, timeout=settings.node_timeout)
        self.wake = asyncio.Event()
        self.jobs = JobManager(settings, store, self.registry, clock, on_change=self.wake.set,
                               observers=self.observers, writer=self.writer)
        self.jobs.load()
        # The loaded queue lives as long as the controller: keep it out of the collector's
        # scans, which would otherwise walk 100k jobs during every big scheduling pass.
        gc.freeze()
        self.hostname = socket.gethostname()
        self.record_cache: dict[int, tuple[Job, bytes]] = {}

    async def scheduling_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.settings.schedule_interval)
            self.wake.clear()
            await asyncio.sleep(0)  # let submits that arrived together land in one pass
            try:
                plan = await self.jobs.plan_pass()
                if len(plan.candidates) + len(plan.active) < INLINE_PASS:
                    result = self.jobs.decide(plan)  # a few ms: no thread hand-off delay
                else:
                    # A big pass runs beside the event loop, so that the API keeps answering.
                    result = await asyncio.to_thread(self.jobs.decide, plan)
                await self.jobs.apply_pass(plan, result)
                self.jobs.purge()
                for job_id in self.record_cache.keys() - self.jobs.jobs.keys():
                    del self.record_cache[job_id]
            except Exception:
                log.exception("scheduling pass failed")
                await asyncio.sleep(1)

    def encoded_record(self, job: Job) -> bytes:
        """A job's record as JSON, re-encoded only when the job changed: squeue over a queue of
        10,000 jobs would otherwise spend most of its time here."""
        cached = self.record_cache.get(job.job_id)
        if cached is not None and cached[0] is job:
            return cached[1]
        encoded = json.dumps(job_record(job), separators=(",", ":")).encode()
        self.record_cache[job.job_id] = (job, encoded)
        return encoded

    def node_records(self) -> list[dict[str, Any]]:
        now = self.clock()
        active = [j for j in self.jobs.jobs.values() if j.state.is_active]
        views = self.jobs.nodes_view(active, now)
        records = []
        for name, node in sorted(self.registry.nodes.items()):
            parts = [p.name for p in self.settings.partitions if p.contains(name)]
            records.append(node_record(node, views[name], parts,
                                       node.responding(now, self.settings.node_timeout)))
        return records
