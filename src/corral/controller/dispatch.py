"""Dispatch to agents: carries out the effects of transitions as commands on the nodes'
queues, turns agents' reports into events, and settles jobs of nodes lost or back."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from corral.api.agent_protocol import (
    CancelCommand,
    FinishedReport,
    InventoryEntry,
    LaunchCommand,
    LaunchSpec,
    Report,
    StartedReport,
    StepFinishedReport,
)
from corral.controller.launch import launch_payload
from corral.controller.ledger import JobBook
from corral.controller.steps import settle_report
from corral.model.effects import CleanupJob, Effect, LaunchJob, ReleaseResources, SignalJob
from corral.model.events import (
    Event,
    JobFinished,
    JobStarted,
    NodeFailed,
    NodeReleased,
)
from corral.model.job import Job
from corral.model.states import JobState

log = logging.getLogger("corral.controller")


class Dispatch(JobBook):
    """Effects to the agents (launch, signal), their reports back, and what a node's loss or
    return means for its jobs."""

    def _carry_out(self, effect: Effect) -> None:
        job = self.jobs[effect.job_id]
        if isinstance(effect, LaunchJob):
            host, payload = launch_payload(job, cluster=self.settings.cluster_name,
                                           kill_wait=self.settings.kill_wait,
                                           controller_addr=self.controller_addr,
                                           token_key=self.settings.job_token_key,
                                           socket_path=str(self.settings.socket_path))
            self.registry.send(host, LaunchCommand(kind="launch", job_id=job.job_id,
                                                   attempt=job.attempt,
                                                   launch=LaunchSpec(**payload)))
        elif isinstance(effect, SignalJob) and effect.nodes:
            grace: dict[str, Any] = {} if effect.grace is None else {
                "kill_wait": effect.grace, "why": effect.why}
            self.registry.send(effect.nodes[0], CancelCommand(
                kind="cancel", job_id=effect.job_id, attempt=effect.attempt, **grace))
        elif isinstance(effect, CleanupJob):
            # The run has ended: each node ends what is left of it (its steps) and confirms
            # with a finished report once its processes are gone (NodeReleased).
            for node in effect.nodes:
                self.registry.send(node, CancelCommand(kind="cancel", job_id=effect.job_id,
                                                       attempt=effect.attempt))
        elif isinstance(effect, ReleaseResources):
            pass  # resources are derived from the active jobs; nothing to hand back


    async def agent_reports(self, node: str, reports: Sequence[Report]) -> None:
        for report in reports:
            if isinstance(report, StepFinishedReport):
                await settle_report(self, node, report)  # srun steps: controller/steps.py
        # The jobs' own reports, made into events at one instant and committed together.
        events: list[tuple[int, Event]] = []
        for report in reports:
            if isinstance(report, StepFinishedReport):
                continue
            job = self.latest(report.job_id)
            if job is None or job.attempt != report.attempt or not job.nodes \
                    or not job.state.is_active:
                continue  # stale: an older attempt, or already settled
            if node in job.cleanup_nodes and isinstance(report, FinishedReport):
                # Another node of the job confirms its processes of it are gone.
                events.append((job.job_id, NodeReleased(node)))
                continue
            if job.nodes[0] != node or job.end_state is not None:
                continue  # not the batch node, or its run already ended
            if isinstance(report, StartedReport):
                if not job.launched:
                    events.append((job.job_id, JobStarted()))
            elif report.node_fail:
                # The node lost the job's supervisor (it rebooted, or its processes were
                # killed with the agent's): the node failed the job, the job did not fail.
                log.warning("node %s lost job %s", node, job.job_id)
                events.append((job.job_id, NodeFailed(node, requeue=self._requeue_on_node_fail(job))))
            else:
                events.append((job.job_id, JobFinished(
                    exit_code=report.exit_code, exit_signal=report.exit_signal,
                    timed_out=report.timed_out, out_of_memory=report.out_of_memory,
                    launch_failed=report.launch_failed,
                    max_rss_kb=report.max_rss_kb, total_cpu_s=report.total_cpu_s,
                    user_cpu_s=report.user_cpu_s, system_cpu_s=report.system_cpu_s,
                    gpu_util=report.gpu_util, gpu_mem_kb=report.gpu_mem_kb,
                    gpu_idle=report.gpu_idle, end_time=report.end_time, node=node)))
        await self.transition(events, cause=f"agent:{node}")

    async def reconcile(self, node: str, inventory: Sequence[InventoryEntry]) -> None:
        """After an agent (re)registers: resend what it missed, fail what it lost, stop strays."""
        known = {(entry.job_id, entry.attempt) for entry in inventory}
        events: list[tuple[int, Event]] = []
        for job in list(self.current()):
            if node in job.cleanup_nodes:
                self._carry_out(CleanupJob(job.job_id, job.attempt, (node,)))  # asked again
            if not job.state.is_active or not job.nodes or job.nodes[0] != node \
                    or job.end_state is not None:
                continue
            if (job.job_id, job.attempt) in known:
                if job.state is JobState.COMPLETING:
                    self._carry_out(SignalJob(job.job_id, job.attempt, job.nodes))
            elif not job.launched:
                self._carry_out(LaunchJob(job.job_id, job.attempt))
            else:
                log.warning("node %s lost job %s", node, job.job_id)
                events.append((job.job_id, NodeFailed(node, requeue=self._requeue_on_node_fail(job))))
        for job_id, attempt in known:
            ran = self.latest(job_id)
            if ran is None or ran.attempt != attempt or not ran.state.is_active:
                self.registry.send(node, CancelCommand(kind="cancel", job_id=job_id,
                                                       attempt=attempt))
        await self.transition(events, cause=f"register:{node}")

    async def node_failed(self, node: str, cause: str) -> list[Job]:
        """The node is DOWN: every job with a part on it ends NODE_FAIL, or goes back to the
        queue when it may be requeued; the node is told to stop them, should it still hear."""
        events: list[tuple[int, Event]] = [
            (job.job_id, NodeFailed(node, requeue=self._requeue_on_node_fail(job)))
            for job in self.current() if job.state.is_active and node in job.allocation]
        for job_id, _ in events:
            log.warning("node %s failed job %s (%s)", node, job_id, cause)
        return await self.transition(events, cause=cause)

    @staticmethod
    def _requeue_on_node_fail(job: Job) -> bool:
        # Slurm's JobRequeue=1: a batch job is requeued after a node failure unless it was
        # submitted with --no-requeue; an allocation (salloc) has no script to run again.
        return job.spec.requeue and not job.spec.interactive

    async def _return_stranded_launches(self, now: float) -> None:
        """A launch that a silent node never received returns its job to the queue: the job
        never ran, so it runs elsewhere whatever its --requeue."""
        events: list[tuple[int, Event]] = []
        for node, job_id, attempt in self.registry.stranded_launches(now, self.settings.node_timeout):
            # Withdrawn first: a node that wakes up must not start an attempt that is over.
            self.registry.queue(node).withdraw_launch(job_id, attempt)
            job = self.latest(job_id)
            if job is not None and job.attempt == attempt and job.state is JobState.RUNNING \
                    and not job.launched:
                log.warning("node %s is not responding; job %s goes back to the queue", node, job_id)
                events.append((job_id, NodeFailed(node, requeue=True)))
        if events:
            await self.transition(events, cause="launch-lost")

