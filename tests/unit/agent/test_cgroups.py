"""cgroups.py: detection from /proc, and real v1/v2 cgroups where this machine allows them.

The tests that write cgroups need root and a writable hierarchy; elsewhere they are skipped
with the reason shown, except under CI (CI=true), where only GPU tests may be skipped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.agent import cgroups
from corral.agent.cgroups import Cgroup, Hierarchy, Limits

PY = sys.executable


def _unusable(hierarchy: Hierarchy | None, why: str, need: str) -> str | None:
    if os.geteuid() != 0:
        return "cgroup tests need root"
    if hierarchy is None:
        return f"no usable cgroups: {why}"
    if need and need not in cgroups.probe(hierarchy):
        return f"{hierarchy.describe()}: no writable {need} controller"
    return None


def _require(hierarchy: Hierarchy | None, why: str, need: str) -> Hierarchy:
    reason = _unusable(hierarchy, why, need)
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (in CI only GPU tests may be skipped)")
        pytest.skip(reason)
    assert hierarchy is not None
    return hierarchy


@pytest.fixture
def v1() -> Iterator[Hierarchy]:
    instance = f"unit-{os.getpid()}-{time.time_ns()}"
    found, why = cgroups.detect(instance, environ={"CORRAL_CGROUPS": "v1"})
    hierarchy = _require(found, why, "memory")
    yield hierarchy
    for base in hierarchy.bases.values():
        for path in (base, base.parent):
            try:
                path.rmdir()
            except OSError:
                pass


def _spawn(group: Cgroup, code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([PY, "-c", code], preexec_fn=lambda: group.attach(os.getpid()),
                            stdout=subprocess.PIPE)


def _running(pids: list[int]) -> list[int]:
    """Those of `pids` that still run (a zombie has ended; it only waits for its parent)."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            alive.append(pid)
    return alive


# ------------------------------------------------------------------------------ pure parts


def test_cpu_lists_round_trip() -> None:
    assert cgroups.format_cpus([5, 0, 1, 2]) == "0-2,5"
    assert cgroups.parse_cpus("0-2,5\n") == (0, 1, 2, 5)
    assert cgroups.parse_cpus("") == ()


def _fake_proc(tmp_path: Path, mountinfo: str, cgroup: str) -> Path:
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "mountinfo").write_text(mountinfo)
    (tmp_path / "self" / "cgroup").write_text(cgroup)
    return tmp_path


V1_MOUNTS = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
40 31 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""


def test_v1_is_preferred_and_nests_under_the_agents_own_cgroup(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, V1_MOUNTS,
                      "4:memory:/box/7\n3:cpuset:/\n2:cpu,cpuacct:/\n0::/\n")
    found, why = cgroups.detect("node1-ab", proc=proc, environ={})
    assert why == "cgroup/v1" and found is not None
    assert found.bases["memory"] == Path("/sys/fs/cgroup/memory/box/7/corral/node1-ab")
    assert found.bases["cpuset"] == Path("/sys/fs/cgroup/cpuset/corral/node1-ab")
    assert found.bases["cpuacct"] == Path("/sys/fs/cgroup/cpu,cpuacct/corral/node1-ab")


def test_v2_goes_to_the_top_of_the_unified_hierarchy(tmp_path: Path) -> None:
    proc = _fake_proc(
        tmp_path, "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n",
        "0::/system.slice/corral-agent.service\n")
    found, why = cgroups.detect("n-1", proc=proc, environ={})
    assert why == "cgroup/v2" and found is not None
    assert found.bases == {"unified": Path("/sys/fs/cgroup/corral/n-1")}
    assert found.mount == Path("/sys/fs/cgroup")


def test_version_can_be_chosen_or_cgroups_turned_off(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, V1_MOUNTS, "4:memory:/\n0::/\n")
    assert cgroups.detect("x", proc=proc, environ={"CORRAL_CGROUPS": "v2"})[1] == "cgroup/v2"
    assert cgroups.detect("x", proc=proc, environ={"CORRAL_CGROUPS": "off"}) == (
        None, "disabled by CORRAL_CGROUPS")


def test_no_mount_means_no_cgroups(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, "", "")
    assert cgroups.detect("x", proc=proc, environ={}) == (None, "no cgroup hierarchy mounted")


# ------------------------------------------------------------------------------ real cgroups


def test_a_group_over_its_memory_is_oom_killed_and_its_neighbour_is_not(v1: Hierarchy) -> None:
    hog_job = v1.create("job_1", Limits(memory_bytes=50 * 1024 * 1024))
    calm_job = v1.create("job_2", Limits(memory_bytes=50 * 1024 * 1024))
    hog_step, calm_step = hog_job.child("step_batch"), calm_job.child("step_batch")
    try:
        calm = _spawn(calm_step, "import time; b = bytearray(10 * 1024 * 1024); time.sleep(30)")
        hog = _spawn(hog_step, "b = bytearray(300 * 1024 * 1024)")
        assert hog.wait(timeout=30) == -signal.SIGKILL
        assert hog_step.oom_kills() == 1
        assert calm.poll() is None and calm_step.oom_kills() == 0
        assert hog_step.usage().memory_peak_kb is not None
    finally:
        for job in (hog_job, calm_job):
            job.kill()
            job.remove()
    calm.wait(timeout=10)


def test_the_cpuset_holds_exactly_the_given_cpus(v1: Hierarchy) -> None:
    cpu = max(os.sched_getaffinity(0))
    job = v1.create("job_1", Limits(cpus=(cpu,)))
    step = job.child("step_batch")
    try:
        shown = subprocess.run(
            [PY, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
            preexec_fn=lambda: step.attach(os.getpid()), capture_output=True, text=True,
            check=True).stdout
        assert shown.strip() == f"[{cpu}]"
        assert (step.dirs["cpuset"] / "cpuset.cpus").read_text().strip() == str(cpu)
    finally:
        job.kill()
        job.remove()


def test_kill_leaves_no_process_even_a_detached_one(v1: Hierarchy) -> None:
    job = v1.create("job_1", Limits(pids_max=64))
    step = job.child("step_batch")
    code = ("import os, time\n"
            "for _ in range(3):\n"
            "    if os.fork() == 0:\n"
            "        os.setsid()\n"
            "        if os.fork() == 0:\n"
            "            time.sleep(300)\n"
            "        os._exit(0)\n"
            "print('forked', flush=True)\n"
            "time.sleep(300)\n")
    parent = _spawn(step, code)
    try:
        assert parent.stdout is not None and parent.stdout.readline() == b"forked\n"
        deadline = time.monotonic() + 10
        while len(_running(job.pids())) != 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        members = _running(job.pids())
        assert len(members) == 4  # the parent and three grandchildren in new sessions
        assert job.kill()
        parent.wait(timeout=10)
        assert job.pids() == []
        assert _running(members) == []
    finally:
        job.kill()
        job.remove()
    assert not job.exists()


def test_the_pids_limit_stops_a_fork_bomb(v1: Hierarchy) -> None:
    job = v1.create("job_1", Limits(pids_max=5))
    try:
        result = subprocess.run(
            ["bash", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 0.2 & done; wait"],
            preexec_fn=lambda: job.attach(os.getpid()), capture_output=True, text=True,
            timeout=30)
        assert "fork" in result.stderr.lower() or "resource" in result.stderr.lower()
    finally:
        job.kill()
        job.remove()


def test_usage_counts_cpu_time_of_every_process(v1: Hierarchy) -> None:
    job = v1.create("job_1")
    try:
        burn = ("import time\nt = time.process_time()\n"
                "while time.process_time() - t < 0.3:\n    pass\n")
        _spawn(job, burn).wait(timeout=30)
        used = job.usage()
        assert used.cpu_s is not None and used.cpu_s >= 0.25
        assert used.user_cpu_s is not None and used.oom_kills == 0
    finally:
        job.remove()


def test_a_group_is_found_again_from_its_record(v1: Hierarchy) -> None:
    job = v1.create("job_1", Limits(memory_bytes=64 * 1024 * 1024))
    try:
        again = cgroups.reopen(job.to_record())
        assert again.dirs == job.dirs and again.version == 1
    finally:
        job.remove()


def test_v2_tracks_and_kills_even_without_controllers() -> None:
    """On a v2 hierarchy (here the hybrid `unified` mount, if there is one) a group without
    any controller still holds its processes and cgroup.kill ends them all."""
    instance = f"unit-{os.getpid()}-{time.time_ns()}"
    found, why = cgroups.detect(instance, environ={"CORRAL_CGROUPS": "v2"})
    hierarchy = _require(found, why, "")
    job = hierarchy.create("job_1")
    try:
        sleeper = subprocess.Popen(["sleep", "300"], preexec_fn=lambda: job.attach(os.getpid()))
        assert job.pids() == [sleeper.pid]
        assert job.kill()
        assert sleeper.wait(timeout=10) == -signal.SIGKILL
        assert job.usage().cpu_s is not None
    finally:
        job.kill()
        job.remove()
        for path in (hierarchy.bases["unified"], hierarchy.bases["unified"].parent):
            try:
                path.rmdir()
            except OSError:
                pass
