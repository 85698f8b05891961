"""The LSF front-end (bsub, bjobs, bkill) through the real commands on a real cluster."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cluster import Cluster

pytestmark = pytest.mark.integration

SUBMITTED = re.compile(r"Job <([0-9]+)> is submitted to (default )?queue <([^>]+)>\.\n")


def bsub(cluster: Cluster, *args: str, cwd: Path, input: str | None = None) -> int:
    result = cluster.run("bsub", *args, cwd=cwd, input=input)
    assert result.returncode == 0, result.stderr
    match = SUBMITTED.fullmatch(result.stdout)
    assert match, result.stdout
    return int(match.group(1))


def bjobs_rows(cluster: Cluster, *args: str) -> list[list[str]]:
    result = cluster.run("bjobs", "-w", *args)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["JOBID", "USER", "STAT", "QUEUE", "FROM_HOST", "EXEC_HOST",
                                "JOB_NAME", "SUBMIT_TIME"]
    return [line.split() for line in lines[1:]]


def all_job_ids(cluster: Cluster) -> set[int]:
    with cluster.client() as client:
        return {j["job_id"] for j in client.jobs()} | {
            j["job_id"] for j in client.history(all_users=True)}


def test_command_form_runs_and_bjobs_follows_it_to_done(cluster: Cluster, workdir: Path) -> None:
    result = cluster.run("bsub", "-q", "main", "-J", "hello", "-o", "out.%J",
                         "echo hello from $LSB_JOBID", cwd=workdir)
    assert result.returncode == 0, result.stderr
    match = SUBMITTED.fullmatch(result.stdout)
    assert match and match.group(2) is None and match.group(3) == "main"
    job = int(match.group(1))
    rows = bjobs_rows(cluster, str(job))
    assert rows[0][0] == str(job) and rows[0][2] in ("PEND", "RUN", "DONE")
    assert rows[0][3] == "main" and rows[0][6] == "hello"
    cluster.wait_job(job)
    assert [row[:3] for row in bjobs_rows(cluster, "-a")
            if row[0] == str(job)] == [[str(job), "root", "DONE"]]
    assert (workdir / f"out.{job}").read_text() == f"hello from {job}\n"
    missing = cluster.run("bjobs", "999999")
    assert (missing.returncode, missing.stderr) == (255, "Job <999999> is not found\n")


def test_script_on_stdin_with_directives_gets_lsf_environment(cluster: Cluster,
                                                              workdir: Path) -> None:
    script = ("#!/bin/bash\n"
              "#BSUB -J fromstdin\n"
              "#BSUB -n 2\n"
              '#BSUB -R "rusage[mem=64] span[hosts=1]"\n'
              "#BSUB -W 0:05\n"
              "#BSUB -o env.%J\n"
              "env | sort\n")
    job = bsub(cluster, cwd=workdir, input=script)
    record = cluster.wait_job(job)
    assert record["state"] == "COMPLETED"
    assert (record["name"], record["num_tasks"], record["num_nodes"], record["mem_per_cpu"],
            record["time_limit"]) == ("fromstdin", 2, 1, 64, 5)
    env = dict(line.split("=", 1) for line in (workdir / f"env.{job}").read_text().splitlines()
               if "=" in line)
    node = record["nodes"][0]
    assert env["LSB_JOBID"] == str(job)
    assert env["LSB_JOBINDEX"] == "0"
    assert env["LSB_HOSTS"] == f"{node} {node}"
    long = cluster.run("bjobs", "-l", str(job))
    assert long.returncode == 0
    assert "Status <DONE>" in long.stdout.replace("\n" + " " * 21, "")
    assert "Done successfully." in long.stdout


def test_bkill_a_held_job_and_what_is_left_to_kill(cluster: Cluster, workdir: Path) -> None:
    job = bsub(cluster, "-H", "-J", "held", "sleep 30", cwd=workdir)
    pending = cluster.run("bjobs", "-p")
    assert pending.stdout.splitlines()[1].split()[:3] == [str(job), "root", "PSUSP"]
    assert pending.stdout.splitlines()[2] == " The job was suspended by the user while pending;"
    killed = cluster.run("bkill", str(job))
    assert (killed.returncode, killed.stdout) == (0, f"Job <{job}> is being terminated\n")
    assert cluster.wait_job(job)["state"] == "CANCELLED"
    assert [row[2] for row in bjobs_rows(cluster, "-a") if row[0] == str(job)] == ["EXIT"]
    again = cluster.run("bkill", str(job), "999999")
    assert again.returncode == 255
    assert again.stderr == (f"Job <{job}>: Job has already finished\n"
                            "Job <999999>: No matching job found\n")


@pytest.mark.parametrize("args,message", [
    (["-R", "rusage[mem=abc]"], "Bad resource requirement syntax. Job not submitted.\n"),
    (["-R", "span[hosts=1"], "Bad resource requirement syntax. Job not submitted.\n"),
    (["-W", "1:xx"], "1:xx: Bad RUNLIMIT specification. Job not submitted.\n"),
    (["-J", "arr[1-"], "Bad job name. Job not submitted.\n"),
    (["-J", "arr[0-3]"], "Job array index error. Job not submitted.\n"),
    (["-w", "finished(1)"], "Dependency condition syntax error. Job not submitted.\n"),
    (["-w", "done(999999)"], "Dependency condition syntax error. Job not submitted.\n"),
    (["-q", "nosuch"], "nosuch: No such queue. Job not submitted.\n"),
])
def test_bad_input_is_refused_and_nothing_is_queued(cluster: Cluster, workdir: Path,
                                                    args: list[str], message: str) -> None:
    before = all_job_ids(cluster)
    result = cluster.run("bsub", *args, "true", cwd=workdir)
    assert (result.returncode, result.stdout, result.stderr) == (255, "", message)
    assert all_job_ids(cluster) == before


def test_an_array_shows_one_row_per_element(cluster: Cluster, workdir: Path) -> None:
    job = bsub(cluster, "-J", "arr[1-3]%2", "-o", "arr.%J.%I", "echo index $LSB_JOBINDEX",
               cwd=workdir)
    with cluster.client() as client:
        cluster.wait_for(lambda: all(j["state"] == "COMPLETED"
                                     for j in client.jobs(job_ids=[str(job)])),
                         what="the array to finish")
    rows = bjobs_rows(cluster, "-u", "all", "-a", str(job))
    assert [(row[0], row[2], row[6]) for row in rows] == [
        (str(job), "DONE", "arr[1]"), (str(job), "DONE", "arr[2]"), (str(job), "DONE", "arr[3]")]
    for index in (1, 2, 3):
        assert (workdir / f"arr.{job}.{index}").read_text() == f"index {index}\n"


def test_bkill_one_element_of_a_held_array(cluster: Cluster, workdir: Path) -> None:
    job = bsub(cluster, "-H", "-J", "harr[1-3]", "true", cwd=workdir)
    killed = cluster.run("bkill", f"{job}[2]")
    assert (killed.returncode, killed.stdout) == (0, f"Job <{job}[2]> is being terminated\n")
    cluster.wait_for(lambda: [(r[2], r[6]) for r in bjobs_rows(cluster, "-a", str(job))] == [
        ("PSUSP", "harr[1]"), ("PSUSP", "harr[3]"), ("EXIT", "harr[2]")],
        what="element 2 to end while 1 and 3 stay held")
    rest = cluster.run("bkill", str(job))
    assert (rest.returncode, rest.stdout) == (0, f"Job <{job}> is being terminated\n")
    cluster.wait_for(lambda: {r[2] for r in bjobs_rows(cluster, "-a", str(job))} == {"EXIT"},
                     what="the whole array to end")


def test_dependencies_and_bkill_zero(cluster: Cluster, workdir: Path) -> None:
    first = bsub(cluster, "-H", "-J", "first", "true", cwd=workdir)
    second = bsub(cluster, "-w", f"done({first})", "-J", "second", "true", cwd=workdir)
    long = ""

    def waits_on_first() -> bool:
        nonlocal long
        long = cluster.run("bjobs", "-l", str(second)).stdout.replace("\n" + " " * 21, "")
        return " PENDING REASONS:\n Job dependency condition not satisfied;\n" in long

    cluster.wait_for(waits_on_first, what="the dependency to be seen as unsatisfied")
    assert f"Dependency Condition <done({first})>" in long
    killed = cluster.run("bkill", "0")
    assert killed.returncode == 0
    assert killed.stdout == (f"Job <{first}> is being terminated\n"
                             f"Job <{second}> is being terminated\n")
    nothing = cluster.run("bkill", "0")
    assert (nothing.returncode, nothing.stderr) == (255, "No unfinished job found\n")


def test_bsub_wait_returns_the_job_exit_code(cluster: Cluster, workdir: Path) -> None:
    result = cluster.run("bsub", "-K", "-o", "/dev/null", "exit 3", cwd=workdir)
    assert result.returncode == 3
    assert result.stderr.splitlines()[0] == "<<Waiting for dispatch ...>>"
    assert result.stderr.splitlines()[-1] == "<<Job is finished>>"


# -- interactive jobs, status commands, -P and select[] (issue 14) -----------------------------

def test_bsub_interactive_runs_the_command_in_an_allocation(cluster: Cluster, workdir: Path) -> None:
    result = cluster.run("bsub", "-Is", "-n", "1", "/bin/sh", "-c",
                         'echo "job=$LSB_JOBID inter=$LSB_INTERACTIVE"; exit 5', cwd=workdir)
    assert result.returncode == 5, result.stderr
    match = re.search(r"job=(\d+) inter=Y", result.stdout)
    assert match, result.stdout
    assert cluster.wait_job(int(match.group(1)), ("FAILED",))["exit_code"] == 5


def test_project_is_the_account_and_select_needs_node_features(cluster: Cluster,
                                                               workdir: Path) -> None:
    job_id = bsub(cluster, "-P", "root", "-R", "select[type==any]", "true", cwd=workdir)
    assert cluster.wait_job(job_id, ("COMPLETED",))["account"] == "root"
    before = all_job_ids(cluster)
    result = cluster.run("bsub", "-R", "select[mem>4000]", "true", cwd=workdir)
    assert result.returncode == 255
    assert result.stderr.strip() == ("select[mem>4000]: mem>4000: corral selects hosts by "
                                     "resource names (node features) only. Job not submitted.")
    # A resource name is a node feature: one no node has is refused by the controller.
    result = cluster.run("bsub", "-R", "select[bigmem]", "true", cwd=workdir)
    assert result.returncode == 255
    assert result.stderr == "Invalid feature specification. Job not submitted.\n"
    assert all_job_ids(cluster) == before


def test_bqueues_bhosts_bpeek_and_bhist(cluster: Cluster, workdir: Path) -> None:
    job_id = bsub(cluster, "-o", "peek.out", "echo peeked; sleep 20", cwd=workdir)
    cluster.wait_job(job_id, ("RUNNING",))
    queues = cluster.run("bqueues", check=True).stdout.splitlines()
    assert queues[0].split()[:3] == ["QUEUE_NAME", "PRIO", "STATUS"]
    assert queues[1].split()[2] == "Open:Active" and int(queues[1].split()[9]) >= 1
    hosts = cluster.run("bhosts", check=True).stdout.splitlines()
    assert hosts[0].split()[:3] == ["HOST_NAME", "STATUS", "JL/U"]
    assert {line.split()[0] for line in hosts[1:]} == {"node1", "node2"}
    cluster.wait_for(lambda: "peeked" in (workdir / "peek.out").read_text()
                     if (workdir / "peek.out").exists() else False, what="output")
    peek = cluster.run("bpeek", str(job_id), check=True).stdout
    assert peek.startswith("<< output from stdout >>\n") and "peeked" in peek
    cluster.run("bkill", str(job_id), check=True)
    cluster.wait_job(job_id, ("CANCELLED",))
    history = cluster.run("bhist", "-a", "-u", "all", check=True).stdout.splitlines()
    assert history[0] == "Summary of time in seconds spent in various states:"
    assert any(line.split()[0] == str(job_id) for line in history[2:])
    assert cluster.run("bpeek", "999999").returncode == 255
