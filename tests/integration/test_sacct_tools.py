"""sacct as the client tools run it, and allocations ending with their command's status.

The command lines are copied from the tools installed with the `tools` extra (snakemake's
slurm plugin, parsl's SlurmProvider, submitit), run against a live cluster.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import pty
import signal
from pathlib import Path

import pytest

from cluster import Cluster, read_until

pytestmark = pytest.mark.integration


def sacct(cluster: Cluster, *args: str, cwd: Path | None = None) -> str:
    return cluster.run("sacct", *args, cwd=cwd, check=True).stdout


def _job_lines(cluster: Cluster, job: int) -> list[str]:
    return sacct(cluster, "-j", str(job), "--parsable2", "--noheader",
                 "--format=JobID,State,ExitCode").splitlines()


# -- allocations: the job ends with its command's status (Slurm's slurm_complete_job) --------


def test_a_salloc_whose_command_exits_3_fails_with_3(cluster: Cluster, workdir: Path) -> None:
    result = cluster.run("salloc", "-N1", "--job-name=alloc3", "bash", "-c",
                         "srun true; exit 3", input="", cwd=workdir)
    assert result.returncode == 3, result.stderr
    job = int(next(line for line in result.stderr.splitlines()
                   if line.startswith("salloc: Granted")).rpartition(" ")[2])
    assert cluster.wait_job(job)["state"] == "FAILED"
    lines = _job_lines(cluster, job)
    assert lines[0] == f"{job}|FAILED|3:0"
    assert f"{job}.0|COMPLETED|0:0" in lines


def test_a_salloc_whose_command_exits_0_completes(cluster: Cluster, workdir: Path) -> None:
    result = cluster.run("salloc", "-N1", "true", input="", cwd=workdir)
    assert result.returncode == 0, result.stderr
    job = int(next(line for line in result.stderr.splitlines()
                   if line.startswith("salloc: Granted")).rpartition(" ")[2])
    cluster.wait_job(job)
    assert _job_lines(cluster, job)[0] == f"{job}|COMPLETED|0:0"


def test_srun_outside_a_job_ends_its_allocation_with_the_steps_status(
        cluster: Cluster, workdir: Path) -> None:
    result = cluster.run("srun", "--job-name=srun4", "bash", "-c", "exit 4", input="",
                         cwd=workdir)
    assert result.returncode == 4
    job = max(int(line.split("|")[0]) for line in sacct(
        cluster, "-X", "-n", "-P", "--name=srun4", "-o", "JobIDRaw").splitlines())
    cluster.wait_job(job)
    lines = _job_lines(cluster, job)
    assert lines[0] == f"{job}|FAILED|4:0"
    assert f"{job}.0|FAILED|4:0" in lines


def test_an_srun_pty_shell_that_exits_3_fails_its_allocation(
        cluster: Cluster, workdir: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(workdir)
        env = {**cluster.env, "PS1": "remote$ ", "TERM": "dumb"}
        os.execvpe("srun", ["srun", "--pty", "--job-name=pty3", "bash", "--norc",
                            "--noprofile", "-i"], env)
    try:
        assert read_until(fd, b"remote$ ").endswith(b"remote$ ")
        os.write(fd, b"echo job=$SLURM_JOB_ID.; exit 3\r")
        seen = read_until(fd, b"exit code 3")
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 3
    job = int(seen.split(b"job=")[-1].split(b".")[0])
    assert cluster.wait_job(job)["state"] == "FAILED"
    lines = _job_lines(cluster, job)
    assert lines[0] == f"{job}|FAILED|3:0"
    assert f"{job}.0|FAILED|3:0" in lines


# -- the tools' own command lines ---------------------------------------------------------


@pytest.fixture(scope="module")
def finished(cluster: Cluster) -> dict[str, int]:
    """Three jobs of one workflow name and one of another, all ended, as a tool leaves them."""
    root = cluster.root / "sacct-tools"
    root.mkdir(exist_ok=True)
    jobs = {"ok": cluster.sbatch("-J", "wf-5f1c", "--comment", "rule_a", "--wrap", "true",
                                 cwd=root),
            "bad": cluster.sbatch("-J", "wf-5f1c", "--wrap", "exit 2", cwd=root),
            "other": cluster.sbatch("-J", "other", "--wrap", "true", cwd=root)}
    for job in jobs.values():
        cluster.wait_job(job)
    return jobs


def test_snakemakes_status_query(cluster: Cluster, finished: dict[str, int]) -> None:
    # snakemake_executor_plugin_slurm/job_status_query.py: query_job_status_sacct
    start = f"{dt.datetime.now() - dt.timedelta(days=2):%Y-%m-%dT%H:00}"
    out = sacct(cluster, "-X", "--parsable2", "--clusters", "all", "--noheader",
                "--format=JobIdRaw,State", "--starttime", start, "--endtime", "now",
                "--name", "wf-5f1c")
    assert out.splitlines() == [f"{finished['ok']}|COMPLETED", f"{finished['bad']}|FAILED"]


def test_snakemakes_efficiency_report_and_node_lookup(cluster: Cluster,
                                                      finished: dict[str, int]) -> None:
    # efficiency_report.py: get_sacct_data; __init__.py: the NODE_FAIL node lookup.
    out = sacct(cluster, "--name=wf-5f1c", "--parsable2", "--noheader",
                "--format=JobID,JobName,Comment,Elapsed,TotalCPU,NNodes,NCPUS,MaxRSS,ReqMem")
    rows = [line.split("|") for line in out.splitlines()]
    assert [row[:3] for row in rows] == [
        [str(finished["ok"]), "wf-5f1c", "rule_a"], [f"{finished['ok']}.batch", "batch", ""],
        [str(finished["bad"]), "wf-5f1c", ""], [f"{finished['bad']}.batch", "batch", ""]]
    node = cluster.job(finished["ok"])["nodes"][0]
    out = cluster.run("sh", "-c", f"sacct -j {finished['ok']} -n -X -o nodelist%-256",
                      check=True).stdout
    assert out == node.ljust(256) + " \n"


def test_snakemakes_account_guess(cluster: Cluster, finished: dict[str, int]) -> None:
    # accounts.py: test_account's fallback through sacct.
    out = cluster.run("sh", "-c", f'sacct -nu "{getpass.getuser()}" -o Account%256 | tail -1',
                      check=True).stdout
    assert out.strip() == cluster.job(finished["other"])["account"]


def test_parsls_probe_and_status_query(cluster: Cluster, finished: dict[str, int]) -> None:
    # parsl/providers/slurm/slurm.py: `sacct -X` decides sacct works, then the status query.
    assert cluster.run("sacct", "-X").returncode == 0
    ids = f"{finished['ok']},{finished['bad']}"
    out = cluster.run("sh", "-c", "sacct --clusters=corral -X --noheader "
                      f"--format=jobid,state%20 --job '{ids}'", check=True).stdout
    assert [line.split() for line in out.splitlines()] == [
        [str(finished["ok"]), "COMPLETED"], [str(finished["bad"]), "FAILED"]]


def test_another_cluster_has_none_of_our_jobs(cluster: Cluster, finished: dict[str, int]) -> None:
    out = sacct(cluster, "-M", "elsewhere", "-X", "-P", "-j", str(finished["ok"]),
                "-o", "JobID")
    assert out == "JobID\n"


def test_submitits_status_query(cluster: Cluster, finished: dict[str, int]) -> None:
    # submitit/slurm/slurm.py: SlurmInfoWatcher._make_command
    out = sacct(cluster, "-o", "JobID,State,NodeList", "--parsable2",
                "-j", str(finished["ok"]), "-j", str(finished["bad"]))
    lines = out.splitlines()
    assert lines[0] == "JobID|State|NodeList"
    assert [line.split("|")[:2] for line in lines[1:]] == [
        [str(finished["ok"]), "COMPLETED"], [f"{finished['ok']}.batch", "COMPLETED"],
        [str(finished["bad"]), "FAILED"], [f"{finished['bad']}.batch", "FAILED"]]


def test_an_unsupported_option_is_refused_by_name(cluster: Cluster) -> None:
    result = cluster.run("sacct", "--nodelist=node1")
    assert (result.returncode, result.stdout, result.stderr) == (
        1, "", "sacct: error: --nodelist: option not supported by corral\n")


# -- sbatch --test-only on a busy cluster (kept last: it fills the cluster for a moment) -------


def test_test_only_names_the_start_and_nodes_of_a_job_that_must_wait(
        cluster: Cluster, workdir: Path) -> None:
    busy = [cluster.sbatch("-N1", "-c2", "-t", "10", "--wrap", "sleep 300", cwd=workdir)
            for _ in range(2)]
    try:
        for job in busy:
            cluster.wait_job(job, ("RUNNING",))
        result = cluster.run("sbatch", "--test-only", "-N2", "-c2", "-t", "5", "--wrap", "true",
                             cwd=workdir)
        assert result.returncode == 0, result.stderr
        words = result.stderr.split()
        assert words[:2] == ["sbatch:", "Job"] and words[3:6] == ["to", "start", "at"]
        # Both nodes are free when the busy jobs' limits end, 10 minutes from their start.
        ends = max(cluster.job(job)["start_time"] for job in busy) + 600
        start = dt.datetime.fromisoformat(words[6]).timestamp()
        assert ends - 2 <= start <= ends + 2
        assert words[7:] == ["using", "4", "processors", "on", "nodes", "node[1-2]", "in",
                             "partition", cluster.job(busy[0])["partition"]]
    finally:
        cluster.run("scancel", *map(str, busy))
        for job in busy:
            cluster.wait_job(job)
