"""PBS's qsub, qstat and qdel through the real commands on a real two-node cluster."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import Cluster

pytestmark = pytest.mark.integration

DIRECTIVES_SCRIPT = """#!/bin/sh
#PBS -N pbsdemo
#PBS -l select=1:ncpus=2:mem=200mb
#PBS -l walltime=00:02:00
sleep 1
echo to-stderr >&2
env | grep -E '^(PBS_[A-Z_]+|SLURM_CPUS_ON_NODE)=' | sort
echo nodefile=$(cat "$PBS_NODEFILE" | tr '\\n' ' ')
"""


def server_name(cluster: Cluster) -> str:
    with cluster.client() as client:
        return str(client.ping()["controller"])


def qsub(cluster: Cluster, *args: str, cwd: Path, input: str | None = None) -> str:
    result = cluster.run("qsub", *args, cwd=cwd, input=input)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def job_number(pbs_id: str) -> int:
    return int(pbs_id.split(".")[0].split("[")[0])


def all_job_ids(cluster: Cluster) -> set[int]:
    with cluster.client() as client:
        return {r["job_id"] for r in client.jobs()} | \
            {r["job_id"] for r in client.history(all_users=True)}


def qstat_rows(cluster: Cluster, *args: str) -> dict[str, list[str]]:
    """qstat's default table as {job id: columns}, after checking its two header lines."""
    result = cluster.run("qstat", *args)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    if not lines:
        return {}
    assert lines[:2] == ["Job id            Name             User              Time Use S Queue",
                         "----------------  ---------------- ----------------  -------- - -----"]
    return {line.split()[0]: line.split() for line in lines[2:]}


class Submitted:
    def __init__(self, pbs_id: str, job: int, workdir: Path, seen_in_qstat: list[str]) -> None:
        self.pbs_id, self.job, self.workdir, self.seen_in_qstat = pbs_id, job, workdir, seen_in_qstat

    def environment(self) -> dict[str, str]:
        lines = (self.workdir / f"pbsdemo.o{self.job}").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)


@pytest.fixture(scope="module")
def directives_job(cluster: Cluster) -> Iterator[Submitted]:
    """One job submitted from a script with #PBS directives, watched in qstat, then finished."""
    workdir = Path(tempfile.mkdtemp(prefix="corral-test-pbs-"))
    workdir.chmod(0o755)
    (workdir / "demo.sh").write_text(DIRECTIVES_SCRIPT)
    pbs_id = qsub(cluster, "demo.sh", cwd=workdir)
    job = job_number(pbs_id)
    short = f"{job}.{server_name(cluster).split('.')[0]}"
    seen = qstat_rows(cluster).get(short, [])
    cluster.wait_job(job)
    yield Submitted(pbs_id, job, workdir, seen)
    shutil.rmtree(workdir, ignore_errors=True)


def test_qsub_prints_the_job_id_with_the_server_name(cluster: Cluster,
                                                     directives_job: Submitted) -> None:
    assert directives_job.pbs_id == f"{directives_job.job}.{server_name(cluster)}"


def test_qstat_lists_the_job_while_it_is_queued_or_running(directives_job: Submitted) -> None:
    name, user, _, state, queue = directives_job.seen_in_qstat[1:]
    assert (name, user, queue) == ("pbsdemo", "root", "main")
    assert state in ("Q", "R")


def test_directives_shape_the_job_and_output_goes_to_pbs_named_files(
        cluster: Cluster, directives_job: Submitted) -> None:
    record = cluster.job(directives_job.job)
    assert (record["state"], record["name"], record["num_cpus"], record["mem_per_node"],
            record["time_limit"]) == ("COMPLETED", "pbsdemo", 2, 200, 2)
    assert (directives_job.workdir / f"pbsdemo.e{directives_job.job}").read_text() == "to-stderr\n"
    env = directives_job.environment()
    assert (env["PBS_O_WORKDIR"], env["SLURM_CPUS_ON_NODE"], env["PBS_JOBNAME"]) == \
        (str(directives_job.workdir), "2", "pbsdemo")
    assert env["nodefile"].split() == [record["nodes"][0]] * 2
    assert "PBS_ARRAY_INDEX" not in env


def test_pbs_jobid_in_the_job_is_the_id_qsub_printed(directives_job: Submitted) -> None:
    assert directives_job.environment()["PBS_JOBID"] == directives_job.pbs_id


def test_finished_jobs_are_history_shown_with_x(cluster: Cluster, directives_job: Submitted) -> None:
    short = f"{directives_job.job}.{server_name(cluster).split('.')[0]}"
    assert short not in qstat_rows(cluster)
    row = qstat_rows(cluster, "-x")[short]
    assert (row[1], row[4]) == ("pbsdemo", "F")
    result = cluster.run("qstat", str(directives_job.job))
    assert (result.returncode, result.stderr) == (
        35, f"qstat: {directives_job.pbs_id} Job has finished, use -x or -H to obtain "
            "historical job information\n")
    full = cluster.run("qstat", "-fx", directives_job.pbs_id).stdout.splitlines()
    assert full[:3] == [f"Job Id: {directives_job.pbs_id}", "    Job_Name = pbsdemo",
                        f"    Job_Owner = root@{cluster.job(directives_job.job)['submit_host']}"]
    assert "    job_state = F" in full and "    Exit_status = 0" in full


def test_standard_input_script_with_command_line_options(cluster: Cluster, workdir: Path) -> None:
    script = "echo greeting=$GREETING cpus=$SLURM_CPUS_ON_NODE; echo joined >&2\n"
    pbs_id = qsub(cluster, "-N", "fromstdin", "-l", "nodes=1:ppn=2", "-l", "walltime=30",
                  "-j", "oe", "-v", "GREETING=hello", cwd=workdir, input=script)
    job = job_number(pbs_id)
    record = cluster.wait_job(job)
    assert (record["state"], record["num_tasks"], record["time_limit"]) == ("COMPLETED", 2, 1)
    assert (workdir / f"fromstdin.o{job}").read_text() == "greeting=hello cpus=2\njoined\n"
    assert not (workdir / f"fromstdin.e{job}").exists()


def test_qdel_deletes_held_and_dependent_jobs(cluster: Cluster, workdir: Path) -> None:
    held = qsub(cluster, "-h", "--", "/bin/true", cwd=workdir)
    after = qsub(cluster, "-W", f"depend=afterok:{held}", "--", "/bin/true", cwd=workdir)
    server = server_name(cluster).split(".")[0]
    rows = qstat_rows(cluster)
    assert rows[f"{job_number(held)}.{server}"][4] == "H"
    assert rows[f"{job_number(after)}.{server}"][4] == "H"  # PBS holds a job on its dependency
    result = cluster.run("qdel", held, str(job_number(after)))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert cluster.wait_job(job_number(held))["state"] == "CANCELLED"
    assert cluster.wait_job(job_number(after))["state"] == "CANCELLED"
    assert f"{job_number(held)}.{server}" not in qstat_rows(cluster)
    again = cluster.run("qdel", held)
    assert (again.returncode, again.stderr) == (35, f"qdel: Job has finished {held}\n")
    unknown = cluster.run("qdel", "999999")
    assert (unknown.returncode, unknown.stderr) == (
        153, f"qdel: Unknown Job Id 999999.{server_name(cluster)}\n")


@pytest.mark.parametrize("args,script,code,message", [
    (["-l", "walltime=abc"], "", 166,
     "qsub: Illegal attribute or resource value Resource_List.walltime\n"),
    (["-l", "ncpus=1,foo=1"], "", 187, "qsub: Unknown resource Resource_List.foo\n"),
    ([], "#PBS -l select=1:ncpus=lots\n", 166,
     "qsub: Illegal attribute or resource value Resource_List.select\n"),
    ([], "#PBS -l walltime\n", 1, "qsub: illegal -l value\nqsub: directive error: -l walltime \n"),
])
def test_bad_resource_requests_are_refused_and_nothing_is_queued(
        cluster: Cluster, workdir: Path, args: list[str], script: str, code: int,
        message: str) -> None:
    (workdir / "bad.sh").write_text(f"#!/bin/sh\n{script}true\n")
    before = all_job_ids(cluster)
    result = cluster.run("qsub", *args, "bad.sh", cwd=workdir)
    assert (result.returncode, result.stdout, result.stderr) == (code, "", message)
    assert all_job_ids(cluster) == before


def test_an_unparsable_resource_list_prints_the_usage(cluster: Cluster, workdir: Path) -> None:
    before = all_job_ids(cluster)
    result = cluster.run("qsub", "-l", "select", "--", "/bin/true", cwd=workdir)
    assert result.returncode == 2
    assert result.stderr.startswith("qsub: illegal -l value\nusage: qsub [-a date_time]")
    assert all_job_ids(cluster) == before


def test_array_job_shows_as_one_line_and_each_subjob_gets_its_index(
        cluster: Cluster, workdir: Path) -> None:
    (workdir / "arr.sh").write_text("#!/bin/sh\n#PBS -N arr\n#PBS -J 1-3\n"
                                    "echo index=$PBS_ARRAY_INDEX\n")
    pbs_id = qsub(cluster, "-h", "arr.sh", cwd=workdir)
    job = job_number(pbs_id)
    server = server_name(cluster)
    assert pbs_id == f"{job}[].{server}"
    short = f"{job}[].{server.split('.')[0]}"
    assert qstat_rows(cluster)[short][1:] == ["arr", "root", "0", "H", "main"]
    assert [r for r in qstat_rows(cluster, "-t") if r.startswith(f"{job}[")] == [
        short, *(f"{job}[{i}].{server.split('.')[0]}" for i in (1, 2, 3))]
    with cluster.client() as client:
        client.release(job)
    cluster.wait_for(lambda: short not in qstat_rows(cluster), what="the array to finish")
    for index in (1, 2, 3):
        assert (workdir / f"arr.o{job}.{index}").read_text() == f"index={index}\n"
    finished = qstat_rows(cluster, "-x", "-t")
    assert finished[short][4] == "F"
    assert [finished[f"{job}[{i}].{server.split('.')[0]}"][4] for i in (1, 2, 3)] == ["X"] * 3


# -- interactive jobs, status commands and the OpenMP environment (issue 14) -------------------

def test_qsub_interactive_runs_the_shell_in_an_allocation(cluster: Cluster, workdir: Path) -> None:
    server = server_name(cluster)
    result = cluster.run("qsub", "-I", "-l", "select=1:ncpus=2", "-l", "walltime=00:02:00",
                         cwd=workdir, input='echo "id=$PBS_JOBID env=$PBS_ENVIRONMENT '
                                            'ncpus=$NCPUS omp=$OMP_NUM_THREADS"; exit 4\n')
    assert result.returncode == 4, result.stderr
    match = re.search(r"id=(\d+)\.(\S+) env=PBS_INTERACTIVE ncpus=2 omp=2", result.stdout)
    assert match and match.group(2) == server, result.stdout
    # The allocation ends with the shell's status, as Slurm fails an allocation whose shell did.
    assert cluster.wait_job(int(match.group(1)), ("FAILED",))["exit_code"] == 4

    result = cluster.run("qsub", "-I", "-N", "inter", "--", "/bin/sh", "-c",
                         "echo name=$PBS_JOBNAME", cwd=workdir)
    assert result.returncode == 0 and "name=inter" in result.stdout, result.stderr


def test_qsub_interactive_refuses_an_array(cluster: Cluster, workdir: Path) -> None:
    before = all_job_ids(cluster)
    result = cluster.run("qsub", "-I", "-J", "1-3", "--", "true", cwd=workdir)
    assert result.returncode == 2
    assert "qsub: -J option can not be used with interactive jobs" in result.stderr
    assert all_job_ids(cluster) == before


def test_pbs_job_gets_ncpus_omp_threads_and_a_private_tmpdir(cluster: Cluster,
                                                             workdir: Path) -> None:
    script = ("#PBS -l select=1:ncpus=2\n"
              "echo ncpus=$NCPUS omp=$OMP_NUM_THREADS env=$ENVIRONMENT\n"
              "echo tmp=$TMPDIR; stat -c %a \"$TMPDIR\"; touch \"$TMPDIR/scratch\" && echo wrote\n")
    pbs_id = qsub(cluster, "-W", "block=true", "-N", "omp", cwd=workdir, input=script)
    out = (workdir / f"omp.o{job_number(pbs_id)}").read_text()
    assert "ncpus=2 omp=2 env=BATCH" in out and "\n700\nwrote\n" in out
    tmpdir = re.search(r"tmp=(\S+)", out)
    assert tmpdir and not Path(tmpdir.group(1)).exists()  # removed at the job's end


def test_qstat_queue_summary_and_pbsnodes(cluster: Cluster, workdir: Path) -> None:
    pbs_id = qsub(cluster, "-l", "select=1:ncpus=1", "--", "/bin/sleep", "20", cwd=workdir)
    seq = job_number(pbs_id)
    cluster.wait_job(seq, ("RUNNING",))
    lines = cluster.run("qstat", "-Q", check=True).stdout.splitlines()
    assert lines[0].split()[:3] == ["Queue", "Max", "Tot"]
    row = next(line.split() for line in lines[2:] if line.startswith("main"))
    assert int(row[2]) >= 1 and int(row[6]) >= 1 and row[3:5] == ["yes", "yes"]
    full = cluster.run("qstat", "-Qf", "main", check=True).stdout
    assert full.startswith("Queue: main\n") and "    enabled = True\n" in full

    nodes = cluster.run("pbsnodes", "-a", check=True).stdout
    assert nodes.startswith("node1\n     Mom = ") and "     resources_available.ncpus = 2\n" in nodes
    assert f"{seq}.{server_name(cluster)}/0" in nodes  # the running job's CPU on its node
    assert cluster.run("pbsnodes", "nodeX").returncode == 1
    cluster.run("qdel", pbs_id, check=True)
