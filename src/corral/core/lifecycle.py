"""The job state machine: one explicit table of (state, event) → handler; nothing else sets state.

Handlers are pure: they take the job, the event and `now`, and return the new job plus the
effects the driver must carry out. A pair missing from TRANSITIONS raises InvalidTransition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from corral.model.effects import CleanupJob, Effect, LaunchJob, ReleaseResources, SignalJob
from corral.model.errors import InvalidTransition
from corral.model.events import (
    AllocationEnded,
    DeadlinePassed,
    Event,
    JobAllocated,
    JobCancelled,
    JobFinished,
    JobHeld,
    JobPreempted,
    JobReleased,
    JobRequeued,
    JobStarted,
    JobUpdated,
    NodeFailed,
    NodeReleased,
)
from corral.model.job import Job, StepRecord
from corral.model.states import JobState, Reason

# Slurm reports a launch failure (e.g. an output file that cannot be opened) as exit 0:53.
LAUNCH_FAILURE_SIGNAL = 53
# And an out-of-memory kill as 0:125.
OOM_SIGNAL = 125


@dataclass(frozen=True, slots=True)
class Transition:
    job: Job
    effects: tuple[Effect, ...] = ()


Handler = Callable[[Job, Any, float], Transition]

S = JobState


def _allocate(job: Job, event: JobAllocated, now: float) -> Transition:
    started = replace(job, state=S.RUNNING, reason=Reason.NONE, allocation=dict(event.allocation),
                      start_time=now, end_time=None, launched=False, estimated_start=None,
                      batch_step=None, exit_code=0, exit_signal=0)
    return Transition(started, (LaunchJob(job.job_id, job.attempt),))


def _started(job: Job, event: JobStarted, now: float) -> Transition:
    step = job.batch_step or StepRecord(state=S.RUNNING, start_time=job.start_time or now)
    return Transition(replace(job, launched=True, batch_step=step))


def _outcome(job: Job, event: JobFinished) -> tuple[JobState, Reason, int, int, JobState]:
    """(job state, reason, exit code, signal, batch step state) for a batch step that ended."""
    if job.preempted:
        return S.PREEMPTED, Reason.NONE, 0, event.exit_signal or 15, S.CANCELLED
    if job.cancelled_by is not None:
        return S.CANCELLED, Reason.NONE, event.exit_code, event.exit_signal or 15, S.CANCELLED
    if job.allocation_exit_code is not None:
        # The holder ended because it was told to: the job takes its command's status.
        code, signal = job.allocation_exit_code, job.allocation_exit_signal
        state = S.FAILED if code or signal else S.COMPLETED
        reason = Reason.NON_ZERO_EXIT_CODE if state is S.FAILED else Reason.NONE
        return state, reason, code, signal, S.COMPLETED
    if event.launch_failed:
        return S.FAILED, Reason.JOB_LAUNCH_FAILURE, 0, LAUNCH_FAILURE_SIGNAL, S.CANCELLED
    if event.timed_out:
        return S.TIMEOUT, Reason.TIME_LIMIT, 0, event.exit_signal or 15, S.CANCELLED
    if event.out_of_memory:
        return S.OUT_OF_MEMORY, Reason.OUT_OF_MEMORY, 0, OOM_SIGNAL, S.OUT_OF_MEMORY
    if event.exit_signal:
        return S.FAILED, Reason.NON_ZERO_EXIT_CODE, 0, event.exit_signal, S.CANCELLED
    if event.exit_code:
        return S.FAILED, Reason.NON_ZERO_EXIT_CODE, event.exit_code, 0, S.FAILED
    return S.COMPLETED, Reason.NONE, 0, 0, S.COMPLETED


def _finished(job: Job, event: JobFinished, now: float) -> Transition:
    if job.end_state is not None:
        return Transition(job)  # the run already ended: a repeated report changes nothing
    end = event.end_time or now
    state, reason, code, signal, step_state = _outcome(job, event)
    # A holder stopped at the allocation's end (COMPLETED step) ended well, whatever the job.
    step_code, step_signal = (0, 0) if step_state is S.COMPLETED else (code, signal)
    step = StepRecord(state=step_state, start_time=job.start_time or end, end_time=end,
                      exit_code=step_code, exit_signal=step_signal, max_rss_kb=event.max_rss_kb,
                      total_cpu_s=event.total_cpu_s, user_cpu_s=event.user_cpu_s,
                      system_cpu_s=event.system_cpu_s, gpu_util=event.gpu_util,
                      gpu_mem_kb=event.gpu_mem_kb, gpu_idle=event.gpu_idle)
    # The reporting (batch) node's report is its own confirmation; the others must confirm.
    waiting = () if event.node is None else tuple(n for n in job.nodes if n != event.node)
    if job.requeue_requested:
        if waiting:
            return _cleanup(replace(job, state=S.COMPLETING, end_state=S.PENDING), waiting)
        return Transition(_back_to_queue(job, now), (ReleaseResources(job.job_id, job.nodes),))
    ended = replace(job, state=state, reason=reason, exit_code=code, exit_signal=signal,
                    end_time=end, batch_step=step)
    if waiting:
        # Slurm's CG: the run is over (its outcome kept), the nodes are not yet clean.
        return _cleanup(replace(ended, state=S.COMPLETING, end_state=state), waiting)
    return Transition(ended, (ReleaseResources(job.job_id, job.nodes),))


def _cleanup(job: Job, waiting: tuple[str, ...]) -> Transition:
    """The run has ended; the job stays COMPLETING until each of `waiting` confirms."""
    stopping = replace(job, cleanup_nodes=waiting)
    return Transition(stopping, (CleanupJob(job.job_id, job.attempt, waiting),))


def _node_released(job: Job, event: NodeReleased, now: float) -> Transition:
    if job.end_state is None or event.node not in job.cleanup_nodes:
        return Transition(job)  # not waited for (stale, or confirmed already)
    waiting = tuple(n for n in job.cleanup_nodes if n != event.node)
    if waiting:
        return Transition(replace(job, cleanup_nodes=waiting))
    release = ReleaseResources(job.job_id, job.nodes)
    if job.end_state is S.PENDING:
        return Transition(_back_to_queue(job, now), (release,))
    return Transition(replace(job, state=job.end_state, end_state=None, cleanup_nodes=()),
                      (release,))


def _ask_cleanup_again(job: Job) -> Transition:
    # Idempotent: the nodes not yet clean are asked again, in case the first request was lost.
    return Transition(job, (CleanupJob(job.job_id, job.attempt, job.cleanup_nodes),))


def _deadline_passed(job: Job, event: DeadlinePassed, now: float) -> Transition:
    return Transition(replace(job, state=S.DEADLINE, reason=Reason.DEADLINE, start_time=now,
                              end_time=now, estimated_start=None))


def _back_to_queue(job: Job, now: float) -> Job:
    return replace(job, state=S.PENDING, reason=Reason.NONE,
                   attempt=job.attempt + 1, allocation={}, start_time=None, end_time=None,
                   launched=False, batch_step=None, steps=(), cancelled_by=None,
                   allocation_exit_code=None, allocation_exit_signal=0,
                   requeue_requested=False, preempted=False,
                   exit_code=0, exit_signal=0, eligible_time=now, estimated_start=None,
                   end_state=None, cleanup_nodes=())


def _cancel_pending(job: Job, event: JobCancelled, now: float) -> Transition:
    return Transition(replace(job, state=S.CANCELLED, reason=Reason.NONE, cancelled_by=event.by_uid,
                              start_time=now, end_time=now))


def _cancel_running(job: Job, event: JobCancelled, now: float) -> Transition:
    stopping = replace(job, state=S.COMPLETING, cancelled_by=event.by_uid,
                       requeue_requested=False)
    return Transition(stopping, (SignalJob(job.job_id, job.attempt, job.nodes),))


def _end_allocation(job: Job, event: AllocationEnded, now: float) -> Transition:
    # As a cancel, the holder is stopped; unlike one, the job keeps its command's status.
    stopping = replace(job, state=S.COMPLETING, allocation_exit_code=event.exit_code,
                       allocation_exit_signal=event.exit_signal, requeue_requested=False)
    return Transition(stopping, (SignalJob(job.job_id, job.attempt, job.nodes),))


def _end_allocation_again(job: Job, event: AllocationEnded, now: float) -> Transition:
    if job.end_state is not None:
        return _ask_cleanup_again(job)
    # Already stopping (a cancel, a requeue or an earlier end): the first cause stands, and
    # the nodes are asked again in case the first request was lost.
    return Transition(job, (SignalJob(job.job_id, job.attempt, job.nodes),))


def _cancel_again(job: Job, event: JobCancelled, now: float) -> Transition:
    if job.end_state is not None:
        return _ask_cleanup_again(job)
    # Idempotent: the nodes are asked again, in case the first request was lost.
    return Transition(job, (SignalJob(job.job_id, job.attempt, job.nodes),))


def _hold(job: Job, event: JobHeld, now: float) -> Transition:
    return Transition(replace(job, held=True, reason=Reason.HELD_USER))


def _release(job: Job, event: JobReleased, now: float) -> Transition:
    return Transition(replace(job, held=False, reason=Reason.NONE))


def _requeue_running(job: Job, event: JobRequeued, now: float) -> Transition:
    stopping = replace(job, state=S.COMPLETING, requeue_requested=True)
    return Transition(stopping, (SignalJob(job.job_id, job.attempt, job.nodes),))


def _requeue_ended(job: Job, event: JobRequeued, now: float) -> Transition:
    return Transition(_back_to_queue(job, now))


def _preempt(job: Job, event: JobPreempted, now: float) -> Transition:
    stopping = replace(job, state=S.COMPLETING, preempted=True, requeue_requested=event.requeue)
    return Transition(stopping, (SignalJob(job.job_id, job.attempt, job.nodes,
                                           grace=event.grace_time, why="preempted"),))


def _preempt_again(job: Job, event: JobPreempted, now: float) -> Transition:
    return Transition(job)  # already on its way out: the grace time is not restarted


def _update(job: Job, event: JobUpdated, now: float) -> Transition:
    allowed = {"time_limit", "name", "nice", "dependency", "dependency_shown"}
    unknown = set(event.changes) - allowed
    if unknown:
        raise InvalidTransition(f"cannot update {sorted(unknown)}")
    return Transition(replace(job, **event.changes))  # type: ignore[arg-type]


def _node_failed(job: Job, event: NodeFailed, now: float) -> Transition:
    if job.end_state is not None:
        # The run had ended: a node that is down or lost the job has nothing of it left to
        # stop, and counts as confirmed, so the job does not stay COMPLETING for ever.
        return _node_released(job, NodeReleased(event.node), now)
    # The node may still run the job (an operator set a live node DOWN, or the agent comes
    # back): it is told to stop this attempt, so nothing of it runs beside a requeued one.
    effects = (SignalJob(job.job_id, job.attempt, job.nodes), ReleaseResources(job.job_id, job.nodes))
    if event.requeue:
        return Transition(_back_to_queue(job, now), effects)
    failed = replace(job, state=S.NODE_FAIL, reason=Reason.NODE_DOWN, end_time=now, exit_code=0,
                     exit_signal=0, requeue_requested=False)
    return Transition(failed, effects)


_REQUEUEABLE_ENDS = (S.COMPLETED, S.FAILED, S.CANCELLED, S.TIMEOUT, S.NODE_FAIL,
                     S.OUT_OF_MEMORY, S.PREEMPTED, S.BOOT_FAIL, S.DEADLINE)

TRANSITIONS: Mapping[tuple[JobState, type], Handler] = {
    (S.PENDING, JobAllocated): _allocate,
    (S.PENDING, JobCancelled): _cancel_pending,
    (S.PENDING, JobHeld): _hold,
    (S.PENDING, JobReleased): _release,
    (S.PENDING, JobUpdated): _update,
    (S.PENDING, DeadlinePassed): _deadline_passed,
    (S.RUNNING, JobStarted): _started,
    (S.RUNNING, JobFinished): _finished,
    (S.RUNNING, JobCancelled): _cancel_running,
    (S.RUNNING, JobRequeued): _requeue_running,
    (S.RUNNING, JobPreempted): _preempt,
    (S.COMPLETING, JobPreempted): _preempt_again,
    (S.RUNNING, JobUpdated): _update,
    (S.RUNNING, NodeFailed): _node_failed,
    (S.RUNNING, AllocationEnded): _end_allocation,
    (S.COMPLETING, AllocationEnded): _end_allocation_again,
    (S.COMPLETING, JobStarted): _started,
    (S.COMPLETING, JobFinished): _finished,
    (S.COMPLETING, JobCancelled): _cancel_again,
    (S.COMPLETING, NodeFailed): _node_failed,
    (S.COMPLETING, NodeReleased): _node_released,
    **{(state, JobRequeued): _requeue_ended for state in _REQUEUEABLE_ENDS},
}


def apply(job: Job, event: Event, now: float) -> Transition:
    """The one writer of job.state."""
    handler = TRANSITIONS.get((job.state, type(event)))
    if handler is None:
        raise InvalidTransition(f"job {job.job_id}: {type(event).__name__} in state {job.state.value}")
    return handler(job, event, now)
