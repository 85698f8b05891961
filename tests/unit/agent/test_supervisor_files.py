"""supervisor.py on its own: the real supervisor process over a job directory, no controller.

What it writes for a job goes only where the job's user could write; what it keeps for
itself is private; the job gets the umask the supervisor was started with.
"""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

NOBODY = pwd.getpwnam("nobody")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="runs jobs as another user: needs root")


@pytest.fixture
def jobs_dir() -> Iterator[Path]:
    # Outside pytest's 0700 temp root, so that a job of nobody can reach its script.
    path = Path(tempfile.mkdtemp(prefix="corral-test-supervisor-"))
    path.chmod(0o711)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


def _run(jobs_dir: Path, script: str, umask: int = 0o022, **launch: Any) -> tuple[Path, str]:
    """Runs one job to its end under the real supervisor; (its directory, the supervisor's log)."""
    job_dir = jobs_dir / "7.0"
    job_dir.mkdir(mode=0o711)
    job_dir.chmod(0o711)
    (job_dir / "slurm_script").write_text(script)
    (job_dir / "slurm_script").chmod(0o755)
    (job_dir / "launch.json").write_text(json.dumps({
        "job_id": 7, "node": "n1", "uid": 0, "gid": 0, "work_dir": "/tmp",
        "stdout": "/dev/null", "stderr": "/dev/null", "environment": {"PATH": "/usr/bin:/bin"},
        "kill_wait": 1, **launch}))
    log = jobs_dir / "supervisor.log"
    with open(log, "wb") as handle:
        subprocess.run([sys.executable, "-m", "corral.agent.supervisor", str(job_dir)],
                       stdin=subprocess.DEVNULL, stdout=handle, stderr=handle, check=True,
                       timeout=60, umask=umask, env={**os.environ, "CORRAL_CGROUPS": "off"})
    return job_dir, log.read_text()


def test_an_output_the_user_cannot_open_fails_the_launch_and_is_told_only_to_the_node(
        jobs_dir: Path) -> None:
    rootonly = jobs_dir / "rootonly"
    rootonly.mkdir(mode=0o700)
    out = rootonly / "out"
    job_dir, log = _run(jobs_dir, "#!/bin/sh\ntrue\n", uid=NOBODY.pw_uid, gid=NOBODY.pw_gid,
                        stdout=str(out), stderr=str(rootonly / "err"))
    status = json.loads((job_dir / "status.json").read_text())
    assert status["launch_failed"] is True
    assert status["error"] == f"Could not open stdout file {out}: Permission denied"
    assert (f"slurmstepd-n1: error: couldn't launch job 7: Could not open stdout file {out}: "
            "Permission denied\n") in log
    assert os.listdir(rootonly) == []


def test_a_path_cannot_forge_a_line_of_the_nodes_log(jobs_dir: Path) -> None:
    forged = "/nonexistent/x\nslurmstepd-n1: error: forged"
    _, log = _run(jobs_dir, "#!/bin/sh\ntrue\n", uid=NOBODY.pw_uid, gid=NOBODY.pw_gid,
                  stdout=forged)
    assert "\nslurmstepd-n1: error: forged" not in log
    assert f"Could not open stdout file {ascii(forged)}: No such file or directory" in log


def test_a_script_that_cannot_be_executed_is_told_in_the_users_error_file(
        jobs_dir: Path) -> None:
    home = jobs_dir / "nobody"
    home.mkdir()
    os.chown(home, NOBODY.pw_uid, NOBODY.pw_gid)
    err = home / "err"
    job_dir, _ = _run(jobs_dir, "#!/nonexistent/shell\n", uid=NOBODY.pw_uid, gid=NOBODY.pw_gid,
                      stderr=str(err), work_dir=str(home))
    script = job_dir / "slurm_script"
    assert err.read_text() == (f"slurmstepd-n1: error: couldn't launch job 7: execve(): {script}: "
                               "No such file or directory\n")
    assert err.stat().st_uid == NOBODY.pw_uid


def test_the_supervisors_files_are_private_and_the_job_keeps_its_umask(jobs_dir: Path) -> None:
    out = jobs_dir / "out"
    job_dir, _ = _run(jobs_dir, "#!/bin/sh\numask\n", umask=0o027, stdout=str(out),
                      stderr=str(out), files={"pbs_nodefile": "n1\n"})
    assert out.read_text() == "0027\n"
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in job_dir.iterdir()
             if p.name not in ("slurm_script", "launch.json")}
    assert modes == {"supervisor.pid": 0o600, "started": 0o600, "status.json": 0o600,
                     "pbs_nodefile": 0o644}
