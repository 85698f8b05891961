"""isolation.py: which CPU ids a job gets, the records a restarted agent reads, recovery."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from corral.agent import isolation
from corral.agent.isolation import choose_cpus, close_job, leave_job, open_job, recover

NO_CGROUPS = (None, "disabled by CORRAL_CGROUPS")


def test_a_job_gets_the_lowest_free_cpu_ids() -> None:
    assert choose_cpus(2, [0, 1, 2, 3], []) == (0, 1)
    assert choose_cpus(2, [0, 1, 2, 3], [(0,), (2,)]) == (1, 3)
    assert choose_cpus(1, [4, 5, 6], [(4, 5)]) == (6,)


def test_a_node_declaring_more_cpus_than_it_has_shares_the_least_used() -> None:
    # Four declared CPUs on a two-core machine: jobs end up spread over both cores.
    assert choose_cpus(1, [0, 1], [(0,), (1,), (0,)]) == (1,)
    assert choose_cpus(4, [0, 1], []) == (0, 1)


def test_choices_are_recorded_and_released(tmp_path: Path) -> None:
    first = open_job(tmp_path, "n1", 1, 0, cpus=1, memory_mb=100, hierarchy=NO_CGROUPS)
    second = open_job(tmp_path, "n1", 2, 0, cpus=1, memory_mb=100, hierarchy=NO_CGROUPS)
    usable = isolation.usable_cpus()
    if len(usable) >= 2:
        assert first.cpus != second.cpus
    record = json.loads((tmp_path / ".isolation" / "1.0.json").read_text())
    assert record["cpus"] == list(first.cpus) and record["memory_bytes"] == 100 * 1024 * 1024
    assert record["mode"] == "no cgroup (disabled by CORRAL_CGROUPS)"
    again = open_job(tmp_path, "n1", 1, 0, cpus=1, memory_mb=100, hierarchy=NO_CGROUPS)
    assert again.cpus == first.cpus  # idempotent: a step of the job gets the same CPUs
    close_job(tmp_path, first)
    assert not (tmp_path / ".isolation" / "1.0.json").exists()
    third = open_job(tmp_path, "n1", 3, 0, cpus=1, memory_mb=None, hierarchy=NO_CGROUPS)
    assert third.cpus == first.cpus  # the freed CPU is the lowest again


def test_the_last_step_to_leave_ends_the_job_on_the_node(tmp_path: Path) -> None:
    job = open_job(tmp_path, "n1", 7, 0, cpus=1, memory_mb=None, hierarchy=NO_CGROUPS)
    leave_job(tmp_path, job)
    assert not (tmp_path / ".isolation" / "7.0.json").exists()


def test_recovery_releases_jobs_whose_supervisor_is_gone(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    alive = open_job(tmp_path, "n1", 1, 0, cpus=1, memory_mb=None, hierarchy=NO_CGROUPS)
    (tmp_path / ".isolation" / "2.0.json").write_text(json.dumps({
        "job_id": 2, "attempt": 0, "cpus": [0], "memory_bytes": None, "mode": "x",
        "cgroup": None, "users": [{"pid": gone.pid, "start": "1"}]}))
    assert recover(tmp_path) == [(2, 0)]
    assert not (tmp_path / ".isolation" / "2.0.json").exists()
    assert (tmp_path / ".isolation" / "1.0.json").exists()  # its supervisor (us) still runs
    close_job(tmp_path, alive)


def test_instances_differ_by_state_directory(tmp_path: Path) -> None:
    a = isolation.instance_name("node1", tmp_path / "a")
    b = isolation.instance_name("node1", tmp_path / "b")
    assert a != b and a.startswith("node1-")


def test_enter_sets_the_affinity(tmp_path: Path) -> None:
    job = open_job(tmp_path, "n1", 1, 0, cpus=1, memory_mb=None, hierarchy=NO_CGROUPS)
    shown = subprocess.run(
        ["python3", "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
        preexec_fn=lambda: isolation.enter(job, None), capture_output=True, text=True,
        check=True, env={**os.environ}).stdout
    assert shown.strip() == str(list(job.cpus))
    close_job(tmp_path, job)
