"""The typed Python client (corral.client) against a real controller and real agents."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import Cluster
from corral.client import Client, ClientError, InvalidRequest, JobInfo, JobNotFound

pytestmark = pytest.mark.integration


@pytest.fixture
def client(cluster: Cluster) -> Iterator[Client]:
    made = Client(str(cluster.socket))
    yield made
    made.close()


def test_submit_wait_and_read_the_output_as_it_is_written(client: Client, workdir: Path) -> None:
    job = client.submit_job("echo one; sleep 1; echo $GREETING; printf tail",
                            environment={**os.environ, "GREETING": "two"},
                            work_dir=str(workdir), time="1:00", mem="64M")
    assert isinstance(job, JobInfo) and job.name == "wrap" and job.time_limit == 1
    assert job.work_dir == str(workdir) and job.stdout == str(workdir / f"slurm-{job.job_id}.out")
    assert list(client.stream_logs(job.job_id, poll=0.05)) == ["one", "two", "tail"]
    done = client.wait(job.job_id, timeout=60)
    assert done.state == "COMPLETED" and done.succeeded and done.exit_code == 0
    assert done.nodes and done.nodes[0] in {"node1", "node2"} and done.end_time is not None
    assert list(client.stream_logs(job.job_id, follow=False)) == ["one", "two", "tail"]


def test_lines_arrive_while_the_job_still_runs(client: Client, workdir: Path) -> None:
    job = client.submit_job("echo first; sleep 60", work_dir=str(workdir))
    lines = client.stream_logs(job.job_id, poll=0.05)
    assert next(lines) == "first"
    assert client.get_job(job.job_id).state == "RUNNING"
    client.cancel_job(job.job_id)
    rest = list(lines)  # followed to the end: the supervisor's own last word, as in Slurm
    assert len(rest) == 1 and f"*** JOB {job.job_id} ON " in rest[0] and "CANCELLED" in rest[0]
    assert client.wait(job.job_id, timeout=30).state == "CANCELLED"


def test_a_failing_job_reports_its_exit_code_and_stderr(client: Client, workdir: Path) -> None:
    job = client.submit_job(["sh", "-c", "echo oops >&2; exit 3"], work_dir=str(workdir),
                            output="out.txt", error="err.txt")
    done = client.wait(job.job_id, timeout=60)
    assert (done.state, done.exit_code, done.succeeded) == ("FAILED", 3, False)
    assert list(client.stream_logs(job.job_id, stream="stderr")) == ["oops"]
    assert list(client.stream_logs(job.job_id)) == []


def test_a_held_job_waits_until_cancelled(client: Client, workdir: Path) -> None:
    job = client.submit_job("true", hold=True, work_dir=str(workdir))
    assert (job.state, job.reason) == ("PENDING", "JobHeldUser")
    with pytest.raises(TimeoutError):
        client.wait(job.job_id, timeout=0.3, poll=0.05)
    client.cancel_job(job.job_id)
    done = client.wait(job.job_id, timeout=30)
    assert done.state == "CANCELLED" and done.nodes == ()
    assert list(client.stream_logs(job.job_id)) == []


def test_unknown_job_ids_raise_job_not_found(client: Client) -> None:
    for call in (lambda: client.get_job(987654), lambda: client.cancel_job(987654),
                 lambda: client.get_job("987654_1")):
        with pytest.raises(JobNotFound) as caught:
            call()
        assert caught.value.status == 404 and "Invalid job id specified" in caught.value.message
    with pytest.raises(ClientError):  # the old catch-all still catches the typed errors
        client.job(987654)


def test_a_bad_request_raises_invalid_request_with_slurms_message(client: Client,
                                                                  workdir: Path) -> None:
    before = {j.job_id for j in client.list_jobs()}
    with pytest.raises(InvalidRequest) as caught:
        client.submit_job("true", partition="nosuch", work_dir=str(workdir))
    assert caught.value.status == 400
    assert caught.value.message.splitlines() == [
        "invalid partition specified: nosuch",
        "Batch job submission failed: Invalid partition name specified"]
    with pytest.raises(InvalidRequest) as unknown_field:
        client.submit_job("true", work_dir=str(workdir), colour="blue")
    assert "colour" in unknown_field.value.message
    assert {j.job_id for j in client.list_jobs()} == before


def test_list_jobs_filters_by_state(client: Client, workdir: Path) -> None:
    held = client.submit_job("true", hold=True, work_dir=str(workdir))
    quick = client.submit_job("true", work_dir=str(workdir))
    client.wait(quick.job_id, timeout=60)
    pending = client.list_jobs(states="PENDING")
    assert held.job_id in {j.job_id for j in pending}
    assert {j.state for j in pending} == {"PENDING"}
    completed = client.list_jobs(states=["COMPLETED", "FAILED"])
    assert quick.job_id in {j.job_id for j in completed} and held.job_id not in \
        {j.job_id for j in completed}
    assert {j.job_id for j in client.list_jobs(user="nobody-at-all")} == set()
    client.cancel_job(held.job_id)


def test_an_array_and_a_job_that_depends_on_it(client: Client, workdir: Path) -> None:
    array = client.submit_job("echo task $SLURM_ARRAY_TASK_ID", array="0-3",
                              output="a-%A_%a.out", work_dir=str(workdir))
    assert array.array_job_id == array.job_id
    after = client.submit_job("echo after", dependency=f"afterok:{array.job_id}",
                              work_dir=str(workdir), output="after.out")
    done = client.wait(array.job_id, timeout=60)
    assert done.finished
    tasks = client.array_tasks(array.job_id)
    assert [(t.slurm_id, t.state) for t in tasks] == \
        [(f"{array.job_id}_{i}", "COMPLETED") for i in range(4)]
    for task in tasks:
        assert list(client.stream_logs(task.slurm_id)) == [f"task {task.array_task_id}"]
        assert client.get_job(task.slurm_id).job_id == task.job_id
    assert client.wait(after.job_id, timeout=60).succeeded
    assert (workdir / "after.out").read_text() == "after\n"


def test_nodes_info_lists_the_agents(client: Client, cluster: Cluster) -> None:
    nodes = client.nodes_info()
    assert sorted(n.name for n in nodes) == cluster.node_names
    assert all(n.cpus == cluster.cpus and n.memory == 2048 and n.responding for n in nodes)


@pytest.fixture(scope="module")
def forgetful() -> Iterator[Cluster]:
    """A controller that drops ended jobs from the live queue at once (MinJobAge=0)."""
    root = Path(tempfile.mkdtemp(prefix="corral-test-forgetful-"))
    root.chmod(0o755)
    running = Cluster(root, nodes=1, config="[controller]\nmin_job_age = 0\n").start()
    yield running
    running.stop()
    shutil.rmtree(root, ignore_errors=True)


def test_ended_jobs_are_read_from_accounting(forgetful: Cluster, workdir: Path) -> None:
    with Client(str(forgetful.socket)) as client:
        job = client.submit_job("echo gone", work_dir=str(workdir))
        array = client.submit_job("true", array="1-2", work_dir=str(workdir), output="/dev/null")
        assert client.wait(job.job_id, timeout=60).succeeded
        assert client.wait(array.job_id, timeout=60).finished

        def left_the_queue() -> bool:
            try:
                client.job(job.job_id)
            except JobNotFound:
                return True
            return False

        forgetful.wait_for(left_the_queue, what="the job to leave the live queue")
        assert client.get_job(job.job_id).state == "COMPLETED"
        assert client.wait(job.job_id, timeout=5).exit_code == 0
        assert list(client.stream_logs(job.job_id)) == ["gone"]
        assert [(t.slurm_id, t.state) for t in client.array_tasks(array.job_id)] == \
            [(f"{array.job_id}_1", "COMPLETED"), (f"{array.job_id}_2", "COMPLETED")]
