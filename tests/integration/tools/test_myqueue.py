"""myqueue, unchanged, with its slurm scheduler: `mq config slurm` reads the nodes with sinfo -O,
`mq submit` pipes a script to sbatch, `mq list` follows the tasks (squeue --user and the state
files the job writes), `mq remove` cancels with scancel. Only corral's commands are on PATH."""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from pathlib import Path

import myqueue  # noqa: F401 - the test drives its command line, installed beside it
import pytest

from cluster import BIN, Cluster

pytestmark = pytest.mark.integration


def _mq(cluster: Cluster, home: Path, *args: str) -> str:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "MYQUEUE"))},
           **{k: v for k, v in cluster.env.items() if k.startswith("CORRAL_")},
           "PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(home),
           # myqueue lists the user's jobs with squeue --user $USER.
           "USER": pwd.getpwuid(os.getuid()).pw_name}
    done = subprocess.run([str(BIN / "mq"), *args], cwd=home, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, f"mq {args}: {done.stdout}{done.stderr}"
    return done.stdout


def _states(cluster: Cluster, home: Path) -> dict[str, tuple[str, str]]:
    """Task name -> (id, state) from `mq list`'s table."""
    rows = {}
    for line in _mq(cluster, home, "list", "-c", "ins").splitlines():
        fields = line.split()
        if fields and fields[0].isdigit():
            rows[fields[1]] = (fields[0], fields[2])
    return rows


def test_myqueue_submits_lists_and_removes_tasks(cluster: Cluster, workdir: Path) -> None:
    home = workdir
    config = _mq(cluster, home, "config", "--in-place", "slurm")
    text = (home / ".myqueue" / "config.py").read_text()
    # sinfo -O CPUs,Memory,Partition gave the node type: 2 cores, 2G, the default partition.
    assert "'scheduler': 'slurm'" in text and "'cores': 2" in text, config + text
    (home / "ok.py").write_text(
        "import os, time\ntime.sleep(1)\nprint('hello from', os.environ['SLURM_JOB_ID'])\n")
    (home / "after.py").write_text("print('after ok')\n")
    (home / "fail.py").write_text("raise SystemExit('error: failing on purpose')\n")
    (home / "slow.py").write_text("import time\ntime.sleep(120)\n")

    _mq(cluster, home, "submit", "ok.py", "-R", "1:1m")
    # A dependent task: sbatch --dependency=afterok:ID while ok.py runs.
    _mq(cluster, home, "submit", "after.py", "-d", "ok.py", "-R", "1:1m")
    _mq(cluster, home, "submit", "fail.py", "-R", "1:1m")
    _mq(cluster, home, "submit", "slow.py", "-R", "1:5m")

    deadline = time.monotonic() + 60
    while True:
        states = _states(cluster, home)
        if tuple(states[n][1] for n in ("ok.py", "after.py", "fail.py", "slow.py")) == (
                "done", "done", "FAILED", "running") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert states["ok.py"][1] == states["after.py"][1] == "done", states
    assert states["fail.py"][1] == "FAILED", states
    assert states["slow.py"][1] == "running", states

    ok_id, fail_id, slow_id = (states[n][0] for n in ("ok.py", "fail.py", "slow.py"))
    assert (home / f"ok.py.{ok_id}.out").read_text().strip() == f"hello from {ok_id}"
    assert "failing on purpose" in (home / f"fail.py.{fail_id}.err").read_text()
    assert cluster.wait_job(int(fail_id))["state"] == "FAILED"
    # The dependent job started only once ok.py's job had ended (afterok).
    after, ok = cluster.job(int(states["after.py"][0])), cluster.job(int(ok_id))
    assert after["start_time"] >= ok["end_time"], (after, ok)
    # The failure's message is read back from the task's stderr.
    assert "failing on purpose" in _mq(cluster, home, "list", "-s", "F", "-v")

    # kick finds nothing to restart (no timed-out or out-of-memory task).
    _mq(cluster, home, "kick")
    # remove cancels the running task with scancel and forgets it.
    _mq(cluster, home, "remove", "-s", "r", ".")
    assert cluster.wait_job(int(slow_id))["state"] == "CANCELLED"
    assert "slow.py" not in _states(cluster, home)
