"""Admission: a submitted request becomes a pending job (Slurm's job_submit and
_job_create), or is refused with Slurm's words."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace

from corral.controller.auth import Caller
from corral.controller.dependencies import validate_dependency
from corral.controller.ingest import default_memory, default_time_limit
from corral.controller.ledger import JobBook
from corral.core.cycle import CycleResult, priority_of
from corral.core.scheduler import Scheduler
from corral.core.selection import never_fits_reason, per_node_request, spread
from corral.model.arrays import ArraySpecError, fold, parse_array
from corral.model.cluster import Partition
from corral.model.errors import InvalidRequest, PermissionDenied
from corral.model.job import Job, JobSpec
from corral.model.states import JobState, Reason

# An allocation without a batch script (salloc, srun outside a job) is held by this script:
# it waits until released (SIGTERM → exit 0, COMPLETED) or cancelled or timed out.
HOLDER_SCRIPT = """#!/bin/sh
trap 'exit 0' TERM
while :; do sleep 3600 & wait $!; done
"""


class Admission(JobBook):
    """A request (as ingest.ingest made it) becomes a pending job: partition, spread, the
    defaults that depend on them, arrays, dependencies, and whether it can ever run."""

    def default_partition(self) -> Partition:
        for partition in self.partitions.values():
            if partition.default:
                return partition
        return next(iter(self.partitions.values()))


    def build_job(self, spec: JobSpec, job_id: int, now: float,
                  exists: Callable[[int], bool] = lambda _: True) -> Job:
        spec = self.accounting.admit(spec)
        if spec.partition:
            partition = self.partitions.get(spec.partition)
            if partition is None:
                raise InvalidRequest(f"invalid partition specified: {spec.partition}\n"
                                     "Batch job submission failed: Invalid partition name specified")
        else:
            partition = self.default_partition()
        nodes = self.nodes_view([], now)
        spec = spread(spec, [n for n in nodes.values() if partition.contains(n.name)])
        time_limit = default_time_limit(spec, partition)
        mem = default_memory(spec, self.settings.def_mem_per_cpu)
        if spec.interactive:
            spec = replace(spec, script=HOLDER_SCRIPT)
        elif not spec.script.strip():
            raise InvalidRequest("Batch job submission failed: Batch script is empty")
        job = Job(job_id=job_id, spec=spec, state=JobState.PENDING, submit_time=now,
                  partition=partition.name, mem_per_node=mem, time_limit=time_limit,
                  held=spec.hold, nice=spec.nice, name=spec.name,
                  eligible_time=max(now, spec.begin_time or now),
                  reason=Reason.HELD_USER if spec.hold else Reason.NONE,
                  dependency=spec.dependency)
        if spec.array is not None:
            try:
                ids, throttle = parse_array(spec.array, self.settings.max_array_size)
            except ArraySpecError as exc:
                raise InvalidRequest(f"Batch job submission failed: {exc}") from None
            job = replace(job, array_job_id=job_id, array_tasks=fold(ids), array_throttle=throttle)
        if spec.dependency is not None:
            validate_dependency(spec.dependency, exists)
        job = replace(job, priority=priority_of(job))
        problem = never_fits_reason(job, per_node_request(spec, mem), partition, list(nodes.values()))
        if problem:
            raise InvalidRequest(f"{problem}\nBatch job submission failed: "
                                 "Requested node configuration is not available")
        self.accounting.check(job, partition, self.scheduler.limits)
        return job

    async def submit(self, spec: JobSpec, caller: Caller, *, test_only: bool = False) -> Job:
        """Returns once the job is committed (or, with test_only, built)."""
        if caller.uid != spec.uid and not caller.operator:
            raise PermissionDenied("Access/permission denied: cannot submit as another user")
        exists = await self.known_jobs(spec.dependency) if spec.dependency else None
        await self.accounting.associate(spec)  # an unknown user's association, saved first
        now = self.clock()
        if exists is None:
            job = self.build_job(spec, self.next_id, now)
        else:
            job = self.build_job(spec, self.next_id, now, exists)
        if test_only:
            return job
        self.next_id += 1
        done = self._stage([(job, None, True)], uuid.uuid4().hex[:12], now=now, wake=True)
        await done
        return job

    def test_only(self, job: Job) -> CycleResult:
        now = self.clock()
        pending = [j for j in self.current() if j.state is JobState.PENDING] + [job]
        # A scheduler of its own: the live one must not remember a job that was never queued.
        return self._cycle(pending, now, Scheduler(self.partitions, self._context()))


