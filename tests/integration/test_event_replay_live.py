"""A replayable store on a real cluster: after a varied workload run with the real commands, every
job rebuilt from its events alone (core.replay) equals the job the store holds, on SQLite,
PostgreSQL and MariaDB.

The job that times out sets the pace: a time limit is whole minutes, so it ends after about 61 s;
the rest of the workload runs meanwhile.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from databases import SERVERS, fresh_database

from cluster import Cluster, open_dir
from corral.core.replay import replay
from corral.store.private import private_dir
from corral.store.store import Store, sqlite_url

pytestmark = pytest.mark.integration

ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}


@pytest.fixture(params=["sqlite", *sorted(SERVERS)])
def cluster_and_url(request: pytest.FixtureRequest) -> Iterator[tuple[Cluster, str]]:
    root = open_dir("corral-test-replay-")
    try:
        if request.param == "sqlite":
            running = Cluster(root, nodes=2, cpus=4).start()
            try:
                yield running, sqlite_url(private_dir(running.data_dir))
            finally:
                running.stop()
        else:
            with fresh_database(request.param) as (url, _):
                running = Cluster(root, nodes=2, cpus=4, db_url=url).start()
                try:
                    yield running, url
                finally:
                    running.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _all_ended(cluster: Cluster, count: int) -> bool:
    with cluster.client() as client:
        jobs = client.history()
    return len(jobs) == count and all(job["state"] in ENDED for job in jobs)


def test_every_job_rebuilt_from_its_events_equals_the_stored_job(
        cluster_and_url: tuple[Cluster, str]) -> None:
    c, url = cluster_and_url
    run = lambda *argv: c.run(*argv, check=True)  # noqa: E731
    sleeper = "sleep 300"
    # The slowest first: a one-minute limit, then SIGTERM and SIGKILL after kill_wait (1 s).
    timeout = c.sbatch("-t", "0:01", "-o", "/dev/null", "--wrap", sleeper)
    # An array throttled to two at a time; its last task is cancelled while it waits.
    array = c.sbatch("--array=0-3%2", "-o", "/dev/null", "--wrap", "sleep 1")
    run("scancel", f"{array}_3")
    held = c.sbatch("-H", "-o", "/dev/null", "--wrap", "true")
    run("scontrol", "update", f"JobId={held}", "Name=renamed")
    after = c.sbatch("-d", f"afterok:{held}", "-o", "/dev/null", "--wrap", "true")
    run("scontrol", "hold", str(after))
    cancelled = c.sbatch("-o", "/dev/null", "--wrap", sleeper)
    # Requeued while it runs; its second attempt ends at once.
    requeued = c.sbatch("-o", "/dev/null", "--wrap",
                        f'[ -n "$SLURM_RESTART_COUNT" ] && exit 0; {sleeper}')
    step = c.sbatch("-o", "/dev/null", "--wrap", "srun hostname")
    failing = c.sbatch("-o", "/dev/null", "--wrap", "exit 3")

    c.wait_job(cancelled, ("RUNNING",))
    run("scancel", str(cancelled))
    c.wait_job(requeued, ("RUNNING",))
    run("scontrol", "requeue", str(requeued))
    run("scontrol", "release", str(held), str(after))

    expected = {timeout: "TIMEOUT", f"{array}_0": "COMPLETED", f"{array}_1": "COMPLETED",
                f"{array}_2": "COMPLETED", f"{array}_3": "CANCELLED", held: "COMPLETED",
                after: "COMPLETED", cancelled: "CANCELLED", requeued: "COMPLETED",
                step: "COMPLETED", failing: "FAILED"}
    c.wait_for(lambda: _all_ended(c, len(expected)), timeout=90, what="every job to end")
    c.stop()  # every write is in the store before it is read

    store = Store(url)
    try:
        stored = store.history()
        assert {(f"{j.array_job_id}_{j.array_task_id}" if j.array_task_id is not None
                 else j.job_id): j.state.value for j in stored} == expected
        kinds: set[str] = set()
        for job in stored:
            events = store.events_of(job.job_id)
            kinds |= {e.kind for e in events}
            rebuilt = replay([(e.at, e.kind, e.payload) for e in events])
            assert rebuilt == job, f"job {job.job_id}: {[e.kind for e in events]}"
    finally:
        store.close()
    assert {"JobSubmitted", "ArrayTaskSplit", "JobAllocated", "JobStarted", "JobFinished",
            "JobCancelled", "JobHeld", "JobReleased", "JobRequeued", "JobUpdated",
            "StepStarted", "StepFinished"} <= kinds
