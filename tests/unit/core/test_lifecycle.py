"""The transition table, exhaustively: every (state, event) pair is either a transition or refused."""

from __future__ import annotations

from dataclasses import replace

import pytest

from corral.core.lifecycle import TRANSITIONS, apply
from corral.model.effects import CleanupJob, LaunchJob, ReleaseResources, SignalJob
from corral.model.errors import InvalidTransition
from corral.model.events import (
    AllocationEnded,
    DeadlinePassed,
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
from corral.model.job import Job, JobSpec, NodeAllocation
from corral.model.states import JobState, Reason

S = JobState
ALLOC = {"n1": NodeAllocation(1, 100)}
EVENTS = [JobAllocated(ALLOC), JobStarted(), JobFinished(), JobCancelled(0), JobHeld(0),
          JobReleased(0), JobRequeued(0), JobUpdated({"time_limit": 5}), NodeFailed("n1"),
          JobPreempted(9, grace_time=5), AllocationEnded(3), NodeReleased("n1"), DeadlinePassed()]


def job_in(state: JobState) -> Job:
    spec = JobSpec(name="j", uid=1, gid=1, user="u", group="g", work_dir="/")
    job = Job(job_id=7, spec=spec, state=S.PENDING, submit_time=0.0, partition="p",
              mem_per_node=100, time_limit=10)
    if state is S.PENDING:
        return job
    return replace(job, state=state, allocation=ALLOC, start_time=1.0,
                   end_time=None if not state.is_terminal else 2.0)


EXPECTED = {
    (S.PENDING, JobAllocated): S.RUNNING, (S.PENDING, JobCancelled): S.CANCELLED,
    (S.PENDING, JobHeld): S.PENDING, (S.PENDING, JobReleased): S.PENDING,
    (S.PENDING, JobUpdated): S.PENDING,
    (S.RUNNING, JobStarted): S.RUNNING, (S.RUNNING, JobFinished): S.COMPLETED,
    (S.RUNNING, JobCancelled): S.COMPLETING, (S.RUNNING, JobRequeued): S.COMPLETING,
    (S.RUNNING, JobUpdated): S.RUNNING, (S.RUNNING, NodeFailed): S.NODE_FAIL,
    (S.COMPLETING, JobStarted): S.COMPLETING, (S.COMPLETING, JobFinished): S.COMPLETED,
    (S.COMPLETING, JobCancelled): S.COMPLETING, (S.COMPLETING, NodeFailed): S.NODE_FAIL,
    (S.RUNNING, JobPreempted): S.COMPLETING, (S.COMPLETING, JobPreempted): S.COMPLETING,
    (S.RUNNING, AllocationEnded): S.COMPLETING, (S.COMPLETING, AllocationEnded): S.COMPLETING,
    (S.COMPLETING, NodeReleased): S.COMPLETING, (S.PENDING, DeadlinePassed): S.DEADLINE,
    **{(s, JobRequeued): S.PENDING for s in JobState if s.is_terminal},
}


@pytest.mark.parametrize("state", list(JobState), ids=lambda s: s.value)
@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_state_event_pair(state: JobState, event: object) -> None:
    key = (state, type(event))
    if key in EXPECTED:
        assert apply(job_in(state), event, 3.0).job.state is EXPECTED[key]  # type: ignore[arg-type]
    else:
        with pytest.raises(InvalidTransition):
            apply(job_in(state), event, 3.0)  # type: ignore[arg-type]


def test_table_and_expectations_agree() -> None:
    assert set(TRANSITIONS) == set(EXPECTED)


def test_allocation_launches_and_finish_releases() -> None:
    started = apply(job_in(S.PENDING), JobAllocated(ALLOC), 5.0)
    assert started.effects == (LaunchJob(7, 0),) and started.job.start_time == 5.0
    ended = apply(started.job, JobFinished(exit_code=0), 9.0)
    assert ended.effects == (ReleaseResources(7, ("n1",)),) and ended.job.end_time == 9.0


@pytest.mark.parametrize("finish,state,reason,code,signal,step", [
    (JobFinished(exit_code=0), S.COMPLETED, Reason.NONE, 0, 0, S.COMPLETED),
    (JobFinished(exit_code=3), S.FAILED, Reason.NON_ZERO_EXIT_CODE, 3, 0, S.FAILED),
    (JobFinished(exit_signal=9), S.FAILED, Reason.NON_ZERO_EXIT_CODE, 0, 9, S.CANCELLED),
    (JobFinished(timed_out=True, exit_signal=15), S.TIMEOUT, Reason.TIME_LIMIT, 0, 15, S.CANCELLED),
    (JobFinished(launch_failed=True), S.FAILED, Reason.JOB_LAUNCH_FAILURE, 0, 53, S.CANCELLED),
    (JobFinished(out_of_memory=True), S.OUT_OF_MEMORY, Reason.OUT_OF_MEMORY, 0, 125,
     S.OUT_OF_MEMORY),
])
def test_outcomes_follow_slurm(finish: JobFinished, state: JobState, reason: Reason, code: int,
                               signal: int, step: JobState) -> None:
    job = apply(job_in(S.RUNNING), finish, 9.0).job
    assert (job.state, job.reason, job.exit_code, job.exit_signal) == (state, reason, code, signal)
    assert job.batch_step is not None and job.batch_step.state is step


def test_cancel_of_a_running_job_signals_then_ends_cancelled() -> None:
    stopping = apply(job_in(S.RUNNING), JobCancelled(by_uid=42), 5.0)
    assert stopping.effects == (SignalJob(7, 0, ("n1",)),)
    ended = apply(stopping.job, JobFinished(exit_signal=15), 6.0).job
    assert (ended.state, ended.cancelled_by, ended.exit_signal) == (S.CANCELLED, 42, 15)


@pytest.mark.parametrize("ended, state, reason", [
    (AllocationEnded(3), S.FAILED, Reason.NON_ZERO_EXIT_CODE),
    (AllocationEnded(0, 9), S.FAILED, Reason.NON_ZERO_EXIT_CODE),
    (AllocationEnded(0), S.COMPLETED, Reason.NONE),
])
def test_an_allocation_ends_with_its_commands_status_not_its_holders(
        ended: AllocationEnded, state: JobState, reason: Reason) -> None:
    stopping = apply(job_in(S.RUNNING), ended, 5.0)
    assert stopping.effects == (SignalJob(7, 0, ("n1",)),)
    assert stopping.job.cancelled_by is None
    # The holder exits 0 on the SIGTERM it is sent; the job keeps the command's status.
    job = apply(stopping.job, JobFinished(exit_code=0), 6.0).job
    assert (job.state, job.reason, job.exit_code, job.exit_signal) == (
        state, reason, ended.exit_code, ended.exit_signal)
    assert job.batch_step is not None and job.batch_step.state is S.COMPLETED
    assert (job.batch_step.exit_code, job.batch_step.exit_signal) == (0, 0)


def test_a_cancel_before_the_allocation_ends_stays_a_cancel() -> None:
    cancelled = apply(job_in(S.RUNNING), JobCancelled(by_uid=42), 5.0).job
    again = apply(cancelled, AllocationEnded(3), 5.5)
    assert again.job == cancelled and again.effects == (SignalJob(7, 0, ("n1",)),)
    assert apply(again.job, JobFinished(exit_signal=15), 6.0).job.state is S.CANCELLED


def test_requeue_returns_the_job_with_a_new_attempt() -> None:
    stopping = apply(job_in(S.RUNNING), JobRequeued(0), 5.0).job
    back = apply(stopping, JobFinished(exit_signal=15), 6.0).job
    assert (back.state, back.attempt, back.allocation, back.start_time) == (S.PENDING, 1, {}, None)


def test_hold_sets_the_reason_and_release_clears_it() -> None:
    held = apply(job_in(S.PENDING), JobHeld(0), 1.0).job
    assert held.held and held.reason is Reason.HELD_USER
    assert not apply(held, JobReleased(0), 2.0).job.held


def test_update_refuses_unknown_fields() -> None:
    with pytest.raises(InvalidTransition):
        apply(job_in(S.PENDING), JobUpdated({"state": "COMPLETED"}), 1.0)


@pytest.mark.parametrize("requeue", [False, True])
def test_preemption_signals_with_grace_then_ends_preempted_or_requeues(requeue: bool) -> None:
    running = apply(job_in(S.PENDING), JobAllocated(ALLOC), 5.0).job
    stopping = apply(running, JobPreempted(for_job=9, requeue=requeue, grace_time=30), 6.0)
    assert stopping.effects == (SignalJob(7, 0, ("n1",), grace=30, why="preempted"),)
    assert apply(stopping.job, JobPreempted(for_job=9), 7.0).effects == ()
    ended = apply(stopping.job, JobFinished(exit_signal=15), 40.0).job
    if requeue:
        assert ended.state is S.PENDING and ended.attempt == 1 and not ended.preempted
    else:
        assert (ended.state, ended.exit_code, ended.exit_signal) == (S.PREEMPTED, 0, 15)
        assert ended.batch_step is not None and ended.batch_step.state is S.CANCELLED


@pytest.mark.parametrize("state", [S.RUNNING, S.COMPLETING], ids=lambda s: s.value)
@pytest.mark.parametrize("requeue", [False, True])
def test_node_failure_stops_the_attempt_then_ends_node_fail_or_requeues(state: JobState,
                                                                        requeue: bool) -> None:
    failed = apply(job_in(state), NodeFailed("n1", requeue=requeue), 8.0)
    # The node is told to stop the old attempt, whether or not it can still hear it.
    assert failed.effects == (SignalJob(7, 0, ("n1",)), ReleaseResources(7, ("n1",)))
    if requeue:
        assert (failed.job.state, failed.job.attempt, failed.job.allocation) == (S.PENDING, 1, {})
    else:
        assert (failed.job.state, failed.job.reason, failed.job.end_time) == \
            (S.NODE_FAIL, Reason.NODE_DOWN, 8.0)
        assert (failed.job.exit_code, failed.job.exit_signal) == (0, 0)


TWO = {"n1": NodeAllocation(1, 100), "n2": NodeAllocation(1, 100)}


def two_node_job() -> Job:
    return replace(job_in(S.RUNNING), allocation=TWO, launched=True)


def test_a_multi_node_job_completes_only_once_every_node_confirmed() -> None:
    ran = apply(two_node_job(), JobFinished(exit_code=3, node="n1", end_time=9.0), 9.5)
    # The run is over, its outcome kept; the other node is told to clean up.
    assert ran.effects == (CleanupJob(7, 0, ("n2",)),)
    job = ran.job
    assert (job.state, job.end_state, job.cleanup_nodes) == (S.COMPLETING, S.FAILED, ("n2",))
    assert (job.exit_code, job.end_time, job.allocation) == (3, 9.0, TWO)
    assert job.batch_step is not None and job.batch_step.state is S.FAILED
    # A repeated report, a stale confirmation or a cancel change nothing but ask again.
    assert apply(job, JobFinished(node="n1"), 10.0).job == job
    assert apply(job, NodeReleased("n1"), 10.0).job == job
    assert apply(job, JobCancelled(0), 10.0).effects == (CleanupJob(7, 0, ("n2",)),)
    done = apply(job, NodeReleased("n2"), 12.0)
    assert done.effects == (ReleaseResources(7, ("n1", "n2")),)
    assert (done.job.state, done.job.exit_code, done.job.end_time) == (S.FAILED, 3, 9.0)
    assert (done.job.end_state, done.job.cleanup_nodes) == (None, ())


def test_a_finish_without_a_node_confirms_every_node() -> None:
    # The simulator's driver has no processes to wait for.
    ended = apply(two_node_job(), JobFinished(), 9.0)
    assert ended.job.state is S.COMPLETED and ended.effects == (ReleaseResources(7, ("n1", "n2")),)


def test_a_requeued_multi_node_job_returns_to_the_queue_once_clean() -> None:
    stopping = apply(two_node_job(), JobRequeued(0), 5.0).job
    ran = apply(stopping, JobFinished(exit_signal=15, node="n1"), 6.0)
    assert ran.job.state is S.COMPLETING and ran.job.end_state is S.PENDING
    back = apply(ran.job, NodeReleased("n2"), 7.0).job
    assert (back.state, back.attempt, back.allocation, back.cleanup_nodes) == (S.PENDING, 1, {}, ())


@pytest.mark.parametrize("requeue", [False, True])
def test_a_node_lost_during_cleanup_counts_as_confirmed(requeue: bool) -> None:
    ran = apply(two_node_job(), JobFinished(node="n1"), 6.0).job
    done = apply(ran, NodeFailed("n2", requeue=requeue), 7.0)
    assert done.job.state is S.COMPLETED and done.effects == (ReleaseResources(7, ("n1", "n2")),)


def test_a_pending_job_past_its_deadline_ends_deadline() -> None:
    job = apply(job_in(S.PENDING), DeadlinePassed(), 30.0).job
    assert (job.state, job.reason, job.end_time) == (S.DEADLINE, Reason.DEADLINE, 30.0)
