"""Job arrays through the real commands: ids, environment, folding, throttle, cancel, sacct."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cluster import Cluster

pytestmark = pytest.mark.integration


def _squeue(cluster: Cluster, *args: str) -> list[str]:
    result = cluster.run("squeue", "-h", *args, check=True)
    return result.stdout.splitlines()


def test_array_tasks_get_their_ids_environment_and_output_names(cluster: Cluster, workdir: Path) -> None:
    script = workdir / "task.sh"
    script.write_text("#!/bin/sh\n#SBATCH --array=1-31:10\n"
                      "echo $SLURM_ARRAY_JOB_ID $SLURM_ARRAY_TASK_ID $SLURM_ARRAY_TASK_COUNT "
                      "$SLURM_ARRAY_TASK_MIN $SLURM_ARRAY_TASK_MAX $SLURM_ARRAY_TASK_STEP\n")
    array_id = cluster.sbatch("-o", "out-%A_%a.txt", str(script), cwd=workdir)
    cluster.wait_for(lambda: len(list(workdir.glob("out-*.txt"))) == 4
                     and all(p.read_text() for p in workdir.glob("out-*.txt")),
                     what="four task outputs")
    for task in (1, 11, 21, 31):
        text = (workdir / f"out-{array_id}_{task}.txt").read_text().split()
        assert text == [str(array_id), str(task), "4", "1", "31", "10"]
    cluster.wait_for(lambda: not _squeue(cluster, "-j", str(array_id)), what="array to leave squeue")
    rows = cluster.run("sacct", "-X", "-n", "-P", "-j", str(array_id), "-o", "JobID,JobIDRaw,State",
                       check=True).stdout.splitlines()
    by_id = {row.split("|")[0]: row.split("|") for row in rows}
    assert sorted(by_id) == sorted(f"{array_id}_{t}" for t in (1, 11, 21, 31))
    assert all(state == "COMPLETED" for _, _, state in by_id.values())
    # The last task keeps the array's own id; the others got fresh ones.
    assert by_id[f"{array_id}_31"][1] == str(array_id)
    assert len({raw for _, raw, _ in by_id.values()}) == 4
    one = cluster.run("sacct", "-X", "-n", "-P", "-j", f"{array_id}_11", "-o", "JobID,State",
                      check=True).stdout.split()
    assert one == [f"{array_id}_11|COMPLETED"]


def test_pending_tasks_fold_throttle_holds_and_scancel_forms(cluster: Cluster, workdir: Path) -> None:
    array_id = cluster.sbatch("--array=0-9%2", "-o", "/dev/null", "--wrap", "sleep 30", cwd=workdir)
    cluster.wait_for(lambda: len([line for line in _squeue(cluster, "-j", str(array_id), "-o", "%i %T")
                                  if line.endswith("RUNNING")]) == 2, what="two tasks running")
    folded = _squeue(cluster, "-j", str(array_id), "-o", "%i %T")
    assert f"{array_id}_[2-9%2] PENDING" in folded
    assert {f"{array_id}_0 RUNNING", f"{array_id}_1 RUNNING"} <= set(folded)
    time.sleep(0.5)  # a few more passes: the throttle must keep holding
    assert len(_squeue(cluster, "-j", str(array_id), "-t", "R")) == 2
    expanded = _squeue(cluster, "-r", "-j", str(array_id), "-o", "%i %A %F %K %T")
    assert f"{array_id}_5 {array_id} {array_id} 5 PENDING" in expanded
    assert len(expanded) == 10

    assert cluster.run("scancel", f"{array_id}_[2-3]").returncode == 0
    assert cluster.run("scancel", f"{array_id}_0").returncode == 0
    def pending_tasks() -> set[str]:
        return {line.split()[0] for line in _squeue(cluster, "-r", "-j", str(array_id),
                                                    "-t", "PD", "-o", "%i")}
    cluster.wait_for(lambda: not {f"{array_id}_2", f"{array_id}_3"} & pending_tasks()
                     and f"{array_id}_9" in pending_tasks(), what="tasks 2-3 out of the pending set")
    assert cluster.run("scancel", str(array_id)).returncode == 0
    cluster.wait_for(lambda: not _squeue(cluster, "-j", str(array_id), "-t", "PD,R,CG"),
                     what="the whole array cancelled")
    rows = cluster.run("sacct", "-X", "-n", "-P", "-j", str(array_id), "-o", "JobID,State",
                       check=True).stdout.splitlines()
    states = dict(row.split("|") for row in rows)
    for task in (0, 2, 3):
        assert states[f"{array_id}_{task}"].startswith("CANCELLED by "), states
    # The pending remainder (whatever the throttle had not started yet) is cancelled as one.
    assert any(key.startswith(f"{array_id}_[") for key in states), states


def test_bad_array_specs_are_refused_and_nothing_is_queued(cluster: Cluster, workdir: Path) -> None:
    before = _squeue(cluster)
    for spec in ("5-1", "a-b", "1-3:0", "1,,2", "1-2%x", "0-100001"):
        result = cluster.run("sbatch", f"--array={spec}", "--wrap", "true", cwd=workdir)
        assert result.returncode == 1, spec
        assert result.stderr.strip() == ("sbatch: error: Batch job submission failed: "
                                         "Invalid job array specification"), result.stderr
    assert _squeue(cluster) == before


def test_ten_thousand_task_array_is_one_record(cluster: Cluster, workdir: Path) -> None:
    array_id = cluster.sbatch("--array=0-9999", "--hold", "-o", "/dev/null", "--wrap", "true",
                              cwd=workdir)
    assert _squeue(cluster, "-j", str(array_id), "-o", "%i %r") == [f"{array_id}_[0-9999] JobHeldUser"]
    assert len(_squeue(cluster, "-r", "-j", str(array_id))) == 10000
    assert cluster.run("scancel", str(array_id)).returncode == 0
