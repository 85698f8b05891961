"""Steps inside an allocation: Slurm's block layout, its refusals, per-task GPUs, step ends."""

from __future__ import annotations

from dataclasses import replace

import pytest

from corral.controller.steps import (
    StepAsk,
    StepRefused,
    lay_out,
    next_step_id,
    node_commands,
    settled_step,
    step_view,
)
from corral.model.hostlist import compress_counts as per_node_string
from corral.model.job import Job, JobSpec, NodeAllocation, StepRecord
from corral.model.states import JobState

TWO_BY_TWO = {"node1": NodeAllocation(2, 1024), "node2": NodeAllocation(2, 1024)}


def ask(**fields: object) -> StepAsk:
    return StepAsk(argv=("hostname",), work_dir="/tmp", io_addr="127.0.0.1:5000",
                   io_key="k" * 32, **fields)  # type: ignore[arg-type]


def placement(allocation: dict[str, NodeAllocation], **fields: object) -> list[tuple[str, list[int]]]:
    result = lay_out(allocation, ask(**fields), job_id=7)
    return [(node, list(result.procids(i))) for i, node in enumerate(result.nodes)]


def test_without_counts_a_step_runs_one_task_on_every_node_of_the_job() -> None:
    assert placement(TWO_BY_TWO) == [("node1", [0]), ("node2", [1])]


def test_tasks_are_spread_over_the_nodes_then_numbered_block_by_block() -> None:
    assert placement(TWO_BY_TWO, ntasks=3) == [("node1", [0, 1]), ("node2", [2])]
    assert placement(TWO_BY_TWO, ntasks=4, nodes=2) == [("node1", [0, 1]), ("node2", [2, 3])]


def test_a_single_task_uses_a_single_node() -> None:
    assert placement(TWO_BY_TWO, ntasks=1) == [("node1", [0])]


def test_tasks_per_node_fixes_each_nodes_share() -> None:
    assert placement(TWO_BY_TWO, ntasks_per_node=2) == [("node1", [0, 1]), ("node2", [2, 3])]


@pytest.mark.parametrize(("fields", "message"), [
    ({"nodes": 3}, "Only allocated 2 nodes asked for 3"),
    ({"ntasks": 5}, "Unable to create step for job 7: More processors requested than permitted"),
    ({"ntasks": 2, "cpus_per_task": 3},
     "Unable to create step for job 7: More processors requested than permitted"),
    ({"ntasks": 1, "gpus_per_task": 1},
     "Unable to create step for job 7: Requested node configuration is not available"),
])
def test_steps_that_do_not_fit_the_allocation_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(StepRefused) as refused:
        lay_out(TWO_BY_TWO, ask(**fields), job_id=7)
    assert refused.value.message == message


def test_overcommit_lets_tasks_share_cpus() -> None:
    assert placement({"node1": NodeAllocation(1, 100)}, ntasks=3, overcommit=True) == [
        ("node1", [0, 1, 2])]


def test_per_node_strings_fold_repeats_as_slurm_does() -> None:
    assert per_node_string([2, 2, 1]) == "2(x2),1"
    assert per_node_string([3]) == "3"


def running_job(allocation: dict[str, NodeAllocation]) -> Job:
    spec = JobSpec(name="j", uid=0, gid=0, user="root", group="root", work_dir="/tmp",
                   environment={"FROM_SUBMIT": "1"})
    return Job(job_id=9, spec=spec, state=JobState.RUNNING, submit_time=0.0, partition="main",
               mem_per_node=100, time_limit=None, start_time=1.0, allocation=allocation)


def test_each_node_learns_its_tasks_and_the_steps_environment() -> None:
    gpus = {"node1": NodeAllocation(2, 100, (0, 1)), "node2": NodeAllocation(2, 100, (2, 3))}
    step = ask(ntasks=4, gpus_per_task=1, environment={"MINE": "x"})
    commands = node_commands(running_job(gpus), step, lay_out(gpus, step, 9), 3,
                             cluster="c", controller_addr="127.0.0.1:1", token_key="",
                             kill_wait=1.0)
    second = commands["node2"]
    assert [(t["procid"], t["localid"], t["gpus"]) for t in second["tasks"]] == [
        (2, 0, [2]), (3, 1, [3])]
    env = second["environment"]
    assert env["MINE"] == "x" and "FROM_SUBMIT" not in env
    assert env["SLURM_STEP_ID"] == "3" and env["SLURM_NODEID"] == "1"
    assert env["SLURM_STEP_NODELIST"] == "node[1-2]" and env["SLURM_STEP_TASKS_PER_NODE"] == "2(x2)"
    assert env["SLURM_NTASKS"] == "4" and env["SLURMD_NODENAME"] == "node2"


def test_step_ids_count_up_within_a_job() -> None:
    job = running_job(TWO_BY_TWO)
    assert next_step_id(job) == 0
    steps = (StepRecord(JobState.COMPLETED, 1.0, step_id=0), StepRecord(JobState.RUNNING, 2.0, step_id=1))
    assert next_step_id(replace(job, steps=steps)) == 2


@pytest.mark.parametrize(("reports", "state", "code", "signal"), [
    ([{"exit_code": 0}, {"exit_code": 0}], JobState.COMPLETED, 0, 0),
    ([{"exit_code": 0}, {"exit_code": 3}], JobState.FAILED, 3, 0),
    ([{"exit_signal": 9}, {"exit_code": 0}], JobState.CANCELLED, 0, 9),
    # Compared as wait statuses, as Slurm does: an exit code outranks a signal.
    ([{"exit_signal": 9}, {"exit_code": 2}], JobState.FAILED, 2, 0),
    ([{"exit_code": 0, "cancelled": True}], JobState.CANCELLED, 0, 0),
    # A task killed for the job's memory: Slurm's OUT_OF_MEMORY 0:125, whatever the signal.
    ([{"exit_signal": 9, "out_of_memory": True}, {"exit_code": 0}],
     JobState.OUT_OF_MEMORY, 0, 125),
    # srun could not open the step's output: the launch failed, exit 1.
    ([{"exit_code": 1, "launch_failed": True}], JobState.FAILED, 1, 0),
])
def test_a_step_ends_with_the_worst_of_its_nodes(reports: list[dict[str, object]],
                                                  state: JobState, code: int, signal: int) -> None:
    step = StepRecord(JobState.RUNNING, 1.0, step_id=0, nodes=("node1", "node2"))
    ended = settled_step(step, [{**r, "end_time": 5.0, "max_rss_kb": 10} for r in reports])
    assert (ended.state, ended.exit_code, ended.exit_signal) == (state, code, signal)
    assert ended.end_time == 5.0 and ended.max_rss_kb == 10


def test_a_step_left_running_in_an_ended_job_shows_as_cancelled() -> None:
    job = replace(running_job(TWO_BY_TWO), state=JobState.COMPLETED, end_time=9.0)
    view = step_view(job, StepRecord(JobState.RUNNING, 1.0, step_id=0, name="a"))
    assert (view["state"], view["end_time"]) == ("CANCELLED", 9.0)
    done = StepRecord(JobState.FAILED, 1.0, end_time=2.0, exit_code=3, step_id=1)
    assert step_view(job, done)["state"] == "FAILED"


def test_each_node_of_a_step_names_its_own_gpus_and_confines_the_step_to_its_job() -> None:
    # --gpus=3 over two 2-GPU nodes: 2, then 1; the declared indices start at 0 on each node.
    held = {"node1": NodeAllocation(2, 100, (0, 1)), "node2": NodeAllocation(1, 50, (0,))}
    whole = ask(ntasks=3)
    commands = node_commands(running_job(held), whole, lay_out(held, whole, 9), 0,
                             cluster="c", controller_addr="127.0.0.1:1", token_key="",
                             kill_wait=1.0)
    for node, gpus in (("node1", "0,1"), ("node2", "0")):
        env = commands[node]["environment"]
        assert (env["SLURM_STEP_GPUS"], env["CUDA_VISIBLE_DEVICES"]) == (gpus, gpus)
    assert {k: commands["node2"][k] for k in ("job_cpus", "memory_mb", "job_gpus", "step_gpus")} \
        == {"job_cpus": 1, "memory_mb": 50, "job_gpus": [0], "step_gpus": [0]}
    # One GPU a task, one task: the step holds only that task's GPU on node1.
    one = ask(ntasks=1, gpus_per_task=1)
    first = node_commands(running_job(held), one, lay_out(held, one, 9), 1, cluster="c",
                          controller_addr="127.0.0.1:1", token_key="", kill_wait=1.0)["node1"]
    assert first["step_gpus"] == [0] and first["environment"]["SLURM_STEP_GPUS"] == "0"
