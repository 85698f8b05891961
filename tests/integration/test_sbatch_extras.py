"""The everyday sbatch options beyond sizes: --signal, --open-mode, --export-file, --comment."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster import Cluster

pytestmark = pytest.mark.integration


def test_signal_warns_the_batch_shell_before_the_time_limit(cluster: Cluster, workdir: Path) -> None:
    script = workdir / "warned.sh"
    script.write_text("#!/bin/bash\ntrap 'echo got USR1; exit 0' USR1\n"
                      "for i in $(seq 100); do sleep 0.1; done\necho no signal\n")
    job = cluster.sbatch("-t", "1", "--signal=B:USR1@58", "-o", "out.txt", str(script), cwd=workdir)
    record = cluster.wait_job(job)
    assert record["state"] == "COMPLETED"
    assert (workdir / "out.txt").read_text() == "got USR1\n"
    assert record["end_time"] - record["start_time"] < 9


def test_open_mode_export_file_and_recorded_fields(cluster: Cluster, workdir: Path) -> None:
    (workdir / "log.txt").write_text("before\n")
    (workdir / "vars").write_text("GREETING=hello\nOTHER=x\n")
    job = cluster.sbatch("--open-mode=append", "-o", "log.txt", "--export-file=vars",
                         "--comment=run 7", "--mail-type=END", "--mail-user=a@b.c",
                         "--wrap", "echo $GREETING", cwd=workdir)
    assert cluster.wait_job(job)["state"] == "COMPLETED"
    assert (workdir / "log.txt").read_text() == "before\nhello\n"
    comment = cluster.run("sacct", "-X", "-n", "-P", "-j", str(job), "-o", "Comment", check=True)
    assert comment.stdout.strip() == "run 7"
    for bad in (["--signal=FOO@10"], ["--open-mode=sometimes"], ["--begin=whenever"]):
        result = cluster.run("sbatch", *bad, "--wrap", "true", cwd=workdir)
        assert result.returncode != 0 and result.stderr.startswith("sbatch: error: "), bad


def test_commands_inside_a_job_authenticate_with_the_job_token(cluster: Cluster, workdir: Path) -> None:
    # --export=NONE: the job has no cluster key and no socket path, only what the launcher gives it.
    from cluster import BIN

    job = cluster.sbatch("--export=NONE", "-o", "inner.txt", "--wrap",
                         f"{BIN}/sbatch --parsable -o /dev/null --wrap true; {BIN}/squeue -h -j $SLURM_JOB_ID -o %T",
                         cwd=workdir)
    assert cluster.wait_job(job)["state"] == "COMPLETED"
    inner, state = (workdir / "inner.txt").read_text().split()
    assert state == "RUNNING"
    assert cluster.wait_job(int(inner))["user"] == cluster.job(job)["user"]
