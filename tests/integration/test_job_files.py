"""A job's files on the node are the agent's alone, and what the node writes for a job it
writes as the job's user (issue 13, defects 0(a) and 1).

The node supervisor runs as root. Its notices (cancel, time limit, out of memory, a launch
that failed) go into the job's error file; a user who swaps that path for a symlink, or its
directory for one into a root-only directory, must not get root to write there.

The time-limit cases take a minute (the shortest limit there is), so every job of the notice
tests is submitted at once by one module fixture and the minute is waited for once.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster import BIN, Cluster, as_user, open_dir
from corral.cli.slurm.sbatch_options import build_request
from corral.client import Client

pytestmark = pytest.mark.integration

NOBODY = pwd.getpwnam("nobody")
PYTHON = "/usr/bin/python3"  # the venv's interpreter may not be executable by nobody
SECRET = "root's own words\n"
OLD = 1_000_000_000  # the root-owned file's mtime: any write would move it


@pytest.fixture(scope="module")
def node() -> Iterator[Cluster]:
    # One node with room for every job of the module at once (CPUs are shared when the
    # machine has fewer).
    root = open_dir("corral-test-job-files-")
    running = Cluster(root, nodes=1, cpus=16, memory="12G").start()
    yield running
    running.stop()
    shutil.rmtree(root, ignore_errors=True)


def _submit_as_nobody(cluster: Cluster, cwd: Path, script: str, **values: str) -> int:
    request = build_request(values, script=script, script_args=[], default_name="files",
                            cwd=str(cwd), environ={"PATH": "/usr/bin:/bin"}, hostname="login",
                            command="")
    reply: Any = as_user(NOBODY.pw_uid, NOBODY.pw_gid,
                         lambda: Client(str(cluster.socket)).submit(request))
    assert "ok" in reply, reply
    return int(reply["ok"]["job_id"])


def _nobodys_dir(path: Path) -> Path:
    path.mkdir()
    os.chown(path, NOBODY.pw_uid, NOBODY.pw_gid)
    return path


# -- defect 0(a): the files of a job on the node ---------------------------------------------


def _wanted(path: Path, info: os.stat_result, state_dir: Path) -> tuple[int, int]:
    """(owner, mode) that an entry under the agent's state directory should have: 0600 root
    files, 0700 root directories, 0711 for those a job's own process passes through to reach
    its script (the state directory, jobs/, a job's directory), the script the job user's own
    (0700), and the PBS node file readable by the job (0644)."""
    if stat.S_ISDIR(info.st_mode):
        passed = path in (state_dir, state_dir / "jobs") or (path / "slurm_script").exists()
        return 0, 0o711 if passed else 0o700
    if not stat.S_ISREG(info.st_mode):
        return -1, -1  # nothing else belongs here (no symlink, no fifo)
    if path.name == "slurm_script":
        return json.loads((path.parent / "launch.json").read_text())["uid"], 0o700
    return 0, 0o644 if path.name == "pbs_nodefile" else 0o600


def _wrong_modes(state_dir: Path) -> list[str]:
    """Every entry under the agent's state directory whose owner or mode is not as it should be."""
    wrong = []
    for folder, dirs, files in os.walk(state_dir):  # what vanishes meanwhile is skipped
        for name in [*dirs, *files] + (["."] if Path(folder) == state_dir else []):
            path = Path(folder) / name if name != "." else state_dir
            try:
                info = path.lstat()
                wanted = _wanted(path, info, state_dir)
            except FileNotFoundError:
                continue
            found = (info.st_uid, stat.S_IMODE(info.st_mode))
            if found != wanted:
                wrong.append(f"{path}: uid {found[0]} mode {found[1]:o}, "
                             f"wanted uid {wanted[0]} mode {wanted[1]:o}")
    return wrong


def test_a_jobs_files_on_the_node_are_the_agents_alone(node: Cluster, workdir: Path) -> None:
    user = _nobodys_dir(workdir / "user")
    state = node.root / "agents" / "node1"
    job = _submit_as_nobody(node, user, "#!/bin/sh\necho running > running\nexec sleep 300\n",
                            output="out.txt", time="5")
    job_dir = state / "jobs" / f"{job}.0"
    # usage.json is written once the job has been sampled; control.json by a request to it.
    node.wait_for(lambda: (user / "running").exists() and (job_dir / "usage.json").exists(),
                  what="the job to run and be sampled")
    node.run("scontrol", "update", f"JobId={job}", "TimeLimit=6", check=True)
    node.wait_for(lambda: (job_dir / "control.json").exists(), what="the request to reach the job")
    # A step, for the step supervisor's files.
    srun = subprocess.Popen([str(BIN / "srun"), "sh", "-c", "echo > step-running; exec sleep 300"],
                            cwd=workdir, env=node.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        node.wait_for(lambda: (workdir / "step-running").exists(), what="the step to run")
        steps = list((state / "jobs").glob("step-*"))
        assert steps and all((s / "supervisor.pid").exists() for s in steps)

        assert _wrong_modes(state) == [], "\n".join(_wrong_modes(state))
        for secret in (job_dir / "launch.json", steps[0] / "step.json"):
            reply: Any = as_user(NOBODY.pw_uid, NOBODY.pw_gid, secret.read_text)
            assert "PermissionError" in reply.get("error", ""), (secret, reply)
        node.run("scancel", str(job), steps[0].name.removeprefix("step-").split(".")[0],
                 check=True)
        assert node.wait_job(job)["state"] == "CANCELLED"
        srun.wait(timeout=30)
    finally:
        if srun.poll() is None:
            srun.kill()
            srun.wait()
    node.wait_for(lambda: not job_dir.exists() and not list((state / "jobs").glob("step-*")),
                  what="the node to forget the job and the step")
    assert _wrong_modes(state) == [], "\n".join(_wrong_modes(state))


# -- defect 1: what the supervisor writes for a job ------------------------------------------

SWAP_FILE = "ln -sf {secret} {err}\n"          # the error file becomes a symlink to root's file
SWAP_DIR = "mv {parent} {parent}.old && ln -s {rootonly} {parent}\n"  # its directory, root's
HOG = (f"exec {PYTHON} -c 'import time; b = bytearray(b\"x\") * (300 * 1024 * 1024); "
       "time.sleep(120)'\n")


class Layout:
    """A root-owned file and a root-only directory, and nobody's directory for its jobs."""

    def __init__(self, root: Path) -> None:
        protected = root / "protected"
        protected.mkdir(mode=0o755)
        self.secret = protected / "secret.txt"
        self.secret.write_text(SECRET)
        self.secret.chmod(0o644)
        os.utime(self.secret, (OLD, OLD))
        self.rootonly = protected / "rootonly"
        self.rootonly.mkdir(mode=0o700)
        self.user = _nobodys_dir(root / "user")
        self.jobs: dict[str, int] = {}

    def untouched(self) -> None:
        assert self.secret.read_text() == SECRET
        assert self.secret.stat().st_mtime == OLD
        assert os.listdir(self.rootonly) == []


def _running_case(layout: Layout, cluster: Cluster, name: str, swap: str, then: str,
                  **values: str) -> None:
    """A job whose error file is first its own, then swapped by the job for a way to root's."""
    parent = _nobodys_dir(layout.user / name)
    err = parent / "err"
    script = ("#!/bin/sh\n"
              + swap.format(secret=layout.secret, err=err, parent=parent, rootonly=layout.rootonly)
              + f"echo ready > {layout.user}/{name}.ready\n" + then)
    layout.jobs[name] = _submit_as_nobody(cluster, layout.user, script, error=str(err),
                                          output=f"{name}.out", **values)


@pytest.fixture(scope="module")
def notices(node: Cluster) -> Iterator[Layout]:
    root = open_dir("corral-test-notices-")
    layout = Layout(root)
    user = layout.user
    # Launch failures: a planted symlink to root's file, and files in a root-only directory.
    as_user(NOBODY.pw_uid, NOBODY.pw_gid, lambda: os.symlink(layout.secret, user / "planted.err"))
    layout.jobs["launch-planted"] = _submit_as_nobody(
        node, user, "#!/bin/sh\ntrue\n", output="planted.out", error=str(user / "planted.err"))
    layout.jobs["launch-rootonly"] = _submit_as_nobody(
        node, user, "#!/bin/sh\ntrue\n", output=str(layout.rootonly / "x.out"),
        error=str(layout.rootonly / "x.err"))
    # The same after the job swapped its paths: a cancel, a time limit, an out-of-memory kill.
    sleep = "exec sleep 300\n"
    for swap_name, swap in (("file", SWAP_FILE), ("dir", SWAP_DIR)):
        _running_case(layout, node, f"cancel-{swap_name}", swap, sleep)
        _running_case(layout, node, f"timeout-{swap_name}", swap, sleep, time="1")
        _running_case(layout, node, f"oom-{swap_name}", swap, HOG, mem="50M")
    # And nobody's own error files, untouched, where the notices must still land.
    for name, then, values in (("ok-cancel", sleep, {}), ("ok-timeout", sleep, {"time": "1"}),
                               ("ok-oom", HOG, {"mem": "50M"})):
        _running_case(layout, node, name, "", then, **values)
    layout.jobs["ok-launch"] = _submit_as_nobody(
        node, user, "#!/nonexistent/shell\ntrue\n", output="ok-launch.out",
        error=str(user / "ok-launch.err"))
    for name in ("cancel-file", "cancel-dir", "ok-cancel"):
        node.wait_for(lambda name=name: (user / f"{name}.ready").exists(),
                      what=f"job {name} to start")
        node.run("scancel", str(layout.jobs[name]), check=True)
    yield layout
    shutil.rmtree(root, ignore_errors=True)


def _oom_noted(text: str, job: int) -> bool:
    # With a memory cgroup the kernel kills and the supervisor counts; without, it polls.
    return f"StepId={job}.batch" in text and ("oom_kill event" in text
                                               or "exceeded memory limit" in text)


EXPECTED = {"launch-planted": "FAILED", "launch-rootonly": "FAILED",
            "cancel-file": "CANCELLED", "cancel-dir": "CANCELLED",
            "timeout-file": "TIMEOUT", "timeout-dir": "TIMEOUT",
            "oom-file": "OUT_OF_MEMORY", "oom-dir": "OUT_OF_MEMORY"}


def test_the_supervisor_never_writes_where_the_user_could_not(node: Cluster,
                                                               notices: Layout) -> None:
    ended = {name: node.wait_job(notices.jobs[name], timeout=150)["state"] for name in EXPECTED}
    assert ended == EXPECTED
    notices.untouched()
    # The notice went to the file the job's user opened, wherever the job moved it.
    user = notices.user
    assert "CANCELLED AT" in (user / "cancel-dir.old" / "err").read_text()
    assert "DUE TO TIME LIMIT" in (user / "timeout-dir.old" / "err").read_text()
    assert _oom_noted((user / "oom-dir.old" / "err").read_text(), notices.jobs["oom-dir"])


def test_notices_land_in_the_users_own_error_file(node: Cluster, notices: Layout) -> None:
    jobs = notices.jobs
    states = {name: node.wait_job(jobs[name], timeout=150)["state"]
              for name in ("ok-cancel", "ok-timeout", "ok-oom", "ok-launch")}
    assert states == {"ok-cancel": "CANCELLED", "ok-timeout": "TIMEOUT",
                      "ok-oom": "OUT_OF_MEMORY", "ok-launch": "FAILED"}
    user = notices.user
    text = {name: (user / name / "err").read_text() for name in ("ok-cancel", "ok-timeout", "ok-oom")}
    assert f"error: *** JOB {jobs['ok-cancel']} ON " in text["ok-cancel"]
    assert " DUE TO TIME LIMIT ***" in text["ok-timeout"]
    assert _oom_noted(text["ok-oom"], jobs["ok-oom"])
    launch = (user / "ok-launch.err").read_text()
    assert launch.startswith(f"slurmstepd-node1: error: couldn't launch job {jobs['ok-launch']}")
    for name in ("ok-cancel", "ok-timeout", "ok-oom", "ok-launch.err"):
        path = user / name / "err" if not name.endswith(".err") else user / name
        assert path.stat().st_uid == NOBODY.pw_uid
