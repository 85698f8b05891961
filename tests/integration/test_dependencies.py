"""Dependencies and --begin through the real commands."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cluster import Cluster

pytestmark = pytest.mark.integration


def _show(cluster: Cluster, *job_ids: int) -> dict[str, str]:
    lines = cluster.run("squeue", "-h", "-t", "all", "-j", ",".join(map(str, job_ids)),
                        "-o", "%i|%T|%r|%E", check=True).stdout.splitlines()
    return {line.split("|")[0]: "|".join(line.split("|")[1:]) for line in lines}


def test_afterok_waits_then_runs_and_a_failed_parent_never_satisfies(cluster: Cluster, workdir: Path) -> None:
    parent = cluster.sbatch("-o", "/dev/null", "--hold", "--wrap", "true", cwd=workdir)
    child = cluster.sbatch("-o", "/dev/null", f"--dependency=afterok:{parent}", "--wrap", "true",
                           cwd=workdir)
    cluster.wait_for(lambda: _show(cluster, child).get(str(child)) ==
                     f"PENDING|Dependency|afterok:{parent}(unfulfilled)", what="child waiting")
    cluster.run("scontrol", "release", str(parent), check=True)
    assert cluster.wait_job(child)["state"] == "COMPLETED"
    assert cluster.job(child)["start_time"] >= cluster.job(parent)["end_time"]

    failing = cluster.sbatch("-o", "/dev/null", "--wrap", "exit 3", cwd=workdir)
    never = cluster.sbatch("-o", "/dev/null", f"--dependency=afterok:{failing}", "--wrap", "true",
                           cwd=workdir)
    doomed = cluster.sbatch("-o", "/dev/null", f"--dependency=afterok:{failing}",
                            "--kill-on-invalid-dep=yes", "--wrap", "true", cwd=workdir)
    notok = cluster.sbatch("-o", "/dev/null", f"--dependency=afternotok:{failing}", "--wrap", "true",
                           cwd=workdir)
    cluster.wait_for(lambda: _show(cluster, never).get(str(never)) ==
                     f"PENDING|DependencyNeverSatisfied|afterok:{failing}(failed)",
                     what="DependencyNeverSatisfied")
    assert cluster.wait_job(doomed)["state"] == "CANCELLED"
    assert cluster.wait_job(notok)["state"] == "COMPLETED"
    cluster.run("scancel", str(never), check=True)


def test_afterany_any_of_singleton_and_update(cluster: Cluster, workdir: Path) -> None:
    first = cluster.sbatch("-o", "/dev/null", "--hold", "--wrap", "exit 1", cwd=workdir)
    second = cluster.sbatch("-o", "/dev/null", "--hold", "--wrap", "true", cwd=workdir)
    both = cluster.sbatch("-o", "/dev/null", f"--dependency=afterany:{first}:{second}",
                          "--wrap", "true", cwd=workdir)
    either = cluster.sbatch("-o", "/dev/null", f"--dependency=afterok:{first}?afterok:{second}",
                            "--wrap", "true", cwd=workdir)
    cluster.wait_for(lambda: _show(cluster, both).get(str(both), "").startswith("PENDING|Dependency|"),
                     what="afterany waiting")
    assert _show(cluster, both)[str(both)].endswith(
        f"afterany:{first}(unfulfilled),afterany:{second}(unfulfilled)")
    cluster.run("scontrol", "release", str(first), check=True)
    cluster.wait_job(first)
    time.sleep(0.3)
    assert _show(cluster, both)[str(both)] == f"PENDING|Dependency|afterany:{second}(unfulfilled)"
    cluster.run("scontrol", "release", str(second), check=True)
    assert cluster.wait_job(both)["state"] == "COMPLETED"
    assert cluster.wait_job(either)["state"] == "COMPLETED"

    name = f"solo-{first}"
    one = cluster.sbatch("-J", name, "-o", "/dev/null", "--dependency=singleton", "--wrap", "sleep 1",
                         cwd=workdir)
    two = cluster.sbatch("-J", name, "-o", "/dev/null", "--dependency=singleton", "--wrap", "true",
                         cwd=workdir)
    cluster.wait_job(one, states=["RUNNING"])
    assert _show(cluster, two)[str(two)].startswith("PENDING|Dependency|singleton")
    assert cluster.wait_job(two)["state"] == "COMPLETED"
    assert cluster.job(two)["start_time"] >= cluster.job(one)["end_time"]

    held = cluster.sbatch("-o", "/dev/null", "--hold", "--wrap", "true", cwd=workdir)
    waiting = cluster.sbatch("-o", "/dev/null", f"--dependency=afterok:{held}", "--wrap", "true",
                             cwd=workdir)
    cluster.run("scontrol", "update", f"JobId={waiting}", "Dependency=", check=True)
    assert cluster.wait_job(waiting)["state"] == "COMPLETED"
    cluster.run("scancel", str(held), check=True)


def test_array_dependencies_and_aftercorr(cluster: Cluster, workdir: Path) -> None:
    first = cluster.sbatch("--array=1-3", "-o", "/dev/null", "--wrap", "exit $((SLURM_ARRAY_TASK_ID == 2))",
                           cwd=workdir)
    corr = cluster.sbatch("--array=1-3", "-o", "/dev/null", f"--dependency=aftercorr:{first}",
                          "--wrap", "true", cwd=workdir)
    whole = cluster.sbatch("-o", "/dev/null", f"--dependency=afterany:{first}", "--wrap", "true",
                           cwd=workdir)
    assert cluster.wait_job(whole)["state"] == "COMPLETED"

    def corr_states() -> dict[str, str]:
        rows = cluster.run("sacct", "-X", "-n", "-P", "-j", str(corr), "-o", "JobID,State").stdout
        return dict(line.split("|") for line in rows.splitlines())

    cluster.wait_for(lambda: {corr_states().get(f"{corr}_1"), corr_states().get(f"{corr}_3")}
                     == {"COMPLETED"}, what="tasks 1 and 3 after their partners")
    assert _show(cluster, corr)[f"{corr}_2"].startswith("PENDING|DependencyNeverSatisfied")
    cluster.run("scancel", str(corr), check=True)


def test_begin_time_and_bad_dependencies(cluster: Cluster, workdir: Path) -> None:
    later = cluster.sbatch("-o", "/dev/null", "--begin=now+1hour", "--wrap", "true", cwd=workdir)
    cluster.wait_for(lambda: _show(cluster, later).get(str(later)) == "PENDING|BeginTime|(null)",
                     what="BeginTime")
    cluster.run("scancel", str(later), check=True)
    soon = cluster.sbatch("-o", "/dev/null", "--begin=now+1", "--wrap", "true", cwd=workdir)
    assert cluster.wait_job(soon)["state"] == "COMPLETED"

    before = cluster.run("squeue", "-h", check=True).stdout
    for spec in ("afterok:999999", "afterok", "sometime:12", f"afterok:{soon},afterany:{soon}?after:1",
                 "afterok:x"):
        result = cluster.run("sbatch", f"--dependency={spec}", "--wrap", "true", cwd=workdir)
        assert result.returncode == 1, spec
        assert result.stderr.startswith("sbatch: error: Batch job submission failed: "
                                         "Job dependency problem"), result.stderr
    assert cluster.run("squeue", "-h", check=True).stdout == before
