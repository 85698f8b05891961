"""The job manager: the live queue in memory, every change committed to the store before it is
acknowledged, transitions applied through core.lifecycle, effects handed to the agents."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from corral.controller.accounting import Accounting
from corral.controller.actions import UserActions
from corral.controller.admission import HOLDER_SCRIPT, Admission
from corral.controller.auth import Caller
from corral.controller.dispatch import Dispatch
from corral.controller.launch import resolve_outputs
from corral.controller.ledger import JobBook, changes_job
from corral.controller.nodes import NodeRegistry
from corral.controller.observers import Observers
from corral.controller.queue import MAX_TASKS_PER_PASS, PassPlan, QueuePasses
from corral.controller.writer import InlineWriter, Writer
from corral.core.cycle import CycleResult
from corral.core.dependencies import RefJob
from corral.core.scheduler import Scheduler
from corral.model.job import Job
from corral.settings import ControllerSettings
from corral.store.store import Store


class JobManager(Admission, UserActions, QueuePasses, Dispatch):
    """The job manager, assembled from its parts: admission (controller/admission.py), users'
    actions (actions.py), the queue and its passes (queue.py), dispatch to agents
    (dispatch.py), all writing through the job book (ledger.py)."""

    def __init__(self, settings: ControllerSettings, store: Store, registry: NodeRegistry,
                 clock: Callable[[], float], on_change: Callable[[], None] = lambda: None,
                 observers: Observers | None = None, writer: Writer | None = None) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry
        self.clock = clock
        self.on_change = on_change
        self.observers = observers if observers is not None else Observers()
        # Every change goes to the store through the writer: at once in this thread (tests,
        # in-process drivers) unless the live controller hands its StoreWriter.
        self.writer: Writer = writer if writer is not None else InlineWriter(store)
        self.pending: dict[int, Job] = {}
        self.settling = asyncio.Lock()  # one step report at a time (steps.settle_report)
        self.partitions = {p.name: p for p in settings.partitions}
        self.jobs: dict[int, Job] = {}
        self.next_id = 1
        self.last_cycle: CycleResult | None = None
        # What dependencies still need to know of jobs that have left the live queue.
        self.ended: dict[int, tuple[int | None, RefJob]] = {}
        self.controller_addr = f"{settings.host}:{settings.port}"
        self.accounting = Accounting(settings, store, clock, self.writer)
        # Preempted job → its preemptor, while the preemptor waits: the victim's grace time,
        # and, when it was requeued, until the preemptor has started.
        self.preempting: dict[int, int] = {}
        # One scheduler for the controller's life: it keeps per-job facts between passes.
        self.scheduler = Scheduler(self.partitions, self._context())

    def load(self) -> None:
        now = self.clock()
        for job in self.store.load_live(now - self.settings.min_job_age):
            self.jobs[job.job_id] = job
        self.next_id = self.store.next_job_id()


__all__ = ["HOLDER_SCRIPT", "MAX_TASKS_PER_PASS", "Caller", "JobBook", "JobManager", "PassPlan",
           "changes_job", "resolve_outputs"]
