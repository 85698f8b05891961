"""What the status commands show of waiting jobs (issue 14's display defects), on a live cluster."""

from __future__ import annotations

from pathlib import Path

from cluster import Cluster


def _cancel_all(cluster: Cluster) -> None:
    cluster.run("scancel", "--user", cluster.run("id", "-un").stdout.strip())


def test_a_throttled_array_waits_for_its_task_limit(cluster: Cluster, workdir: Path) -> None:
    array = cluster.sbatch("--array=0-3%1", "--time=5", "--wrap", "sleep 60", cwd=workdir)
    try:
        cluster.wait_for(lambda: cluster.run("squeue", "-h", "-j", str(array), "-t", "PD", "-o",
                                             "%r").stdout.strip() == "JobArrayTaskLimit",
                         what="the throttled remainder to show JobArrayTaskLimit")
        squeue = cluster.run("squeue", "-h", "-j", str(array), "-t", "PD", "-o", "%i %R").stdout
        assert squeue.strip() == f"{array}_[1-3%1] (JobArrayTaskLimit)"
    finally:
        cluster.run("scancel", str(array))


def test_recorded_time_min_deadline_and_reserved_nodes_are_shown(cluster: Cluster,
                                                                 workdir: Path) -> None:
    wide = cluster.sbatch("-N2", "-c2", "--time=5", "--wrap", "sleep 60", cwd=workdir)
    try:
        cluster.wait_job(wide, ["RUNNING"])
        waiting = cluster.sbatch("-N2", "-c2", "--time=5", "--time-min=2",
                                 "--deadline=now+1day", "--wckey=survey", "--wrap", "true",
                                 cwd=workdir)
        cluster.wait_for(lambda: cluster.run("squeue", "--start", "-h", "-j", str(waiting), "-o",
                                             "%Y").stdout.strip() == "node[1-2]",
                         what="squeue --start to name the nodes reserved for the job")
        shown = cluster.run("scontrol", "show", "job", str(waiting)).stdout
        assert "TimeLimit=00:05:00 TimeMin=00:02:00" in shown
        assert "Deadline=N/A" not in shown
        fields = cluster.run("squeue", "-h", "-j", str(waiting), "-O",
                             "MinTime:8,WCKey:8").stdout
        assert fields == "2:00    survey  \n"
    finally:
        cluster.run("scancel", str(wide))
        _cancel_all(cluster)
