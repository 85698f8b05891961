"""Job steps through the real srun and salloc on a real two-node cluster."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cluster import Cluster, read_until
from corral.client import Client, ClientError

pytestmark = pytest.mark.integration

RENDEZVOUS = f"""#!{sys.executable}
# Two ranks meet over TCP, as torch.distributed and MPI launchers have them do.
import os, socket, time
rank = int(os.environ["SLURM_PROCID"])
port = 30000 + int(os.environ["SLURM_JOB_ID"]) * 7 % 20000
me = os.environ["SLURMD_NODENAME"]
if rank == 0:
    server = socket.create_server(("127.0.0.1", port))
    conn, _ = server.accept()
    print("rank 0 on", me, "got:", conn.recv(100).decode(), flush=True)
    conn.sendall(b"ack")
else:
    deadline = time.time() + 20
    while True:
        try:
            conn = socket.create_connection(("127.0.0.1", port))
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)
    conn.sendall(f"hello from rank 1 on {{me}}".encode())
    print("rank 1 on", me, "got:", conn.recv(100).decode(), flush=True)
"""


def sacct_steps(cluster: Cluster, job: int) -> list[str]:
    out = cluster.run("sacct", "-j", str(job), "--parsable2", "--noheader",
                      "--format=JobID,JobName,State,ExitCode", check=True).stdout
    return out.splitlines()


def job_ids(cluster: Cluster) -> list[int]:
    with cluster.client() as client:
        return [int(j["job_id"]) for j in client.history(all_users=True)]


def wait_steps_settled(cluster: Cluster, job: int) -> None:
    cluster.wait_for(lambda: all(s["state"] != "RUNNING" for s in cluster.job(job)["steps"]),
                     what=f"the steps of job {job} to end")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def task_pids(workdir: Path, count: int) -> list[int]:
    files = [workdir / f"pid.{rank}" for rank in range(count)]
    return [int(f.read_text()) for f in files]


def test_each_srun_in_a_batch_job_is_a_step_with_its_own_state(cluster: Cluster, workdir: Path) -> None:
    script = workdir / "job.sh"
    script.write_text("#!/bin/bash\n"
                      # As on a node without the controller's socket: over TCP, with the token.
                      "env -u CORRAL_SOCKET srun -o step0-%j-%t.out -n2 "
                      "bash -c 'echo task $SLURM_PROCID of $SLURM_NTASKS'\n"
                      "srun -n1 bash -c 'echo failing >&2; exit 3'\n"
                      "echo srun said $?\n")
    # No cluster key in the job: srun proves itself with the job's token (first step), or
    # through the controller's socket on its host (second step).
    job = cluster.sbatch("-N2", "-n2", "-o", "batch.out", str(script), cwd=workdir,
                         env={"CORRAL_CLUSTER_KEY": ""})
    record = cluster.wait_job(job)
    assert record["state"] == "COMPLETED"
    wait_steps_settled(cluster, job)
    assert sacct_steps(cluster, job) == [
        f"{job}|job.sh|COMPLETED|0:0", f"{job}.batch|batch|COMPLETED|0:0",
        f"{job}.0|bash|COMPLETED|0:0", f"{job}.1|bash|FAILED|3:0"]
    assert (workdir / f"step0-{job}-0.out").read_text() == "task 0 of 2\n"
    assert (workdir / f"step0-{job}-1.out").read_text() == "task 1 of 2\n"
    assert (workdir / "batch.out").read_text() == (
        f"failing\nsrun: error: {record['nodes'][0]}: task 0: Exited with exit code 3\nsrun said 3\n")


def test_a_step_request_without_identity_or_token_is_refused(cluster: Cluster, workdir: Path) -> None:
    job = cluster.sbatch("-o", "/dev/null", "--wrap", "sleep 30", cwd=workdir)
    cluster.wait_job(job, states=["RUNNING"])
    anonymous = Client(f"http://127.0.0.1:{cluster.port}")
    try:
        with pytest.raises(ClientError) as refused:
            anonymous.request("POST", f"/jobs/{job}/steps", {
                "argv": ["true"], "work_dir": str(workdir), "io_addr": "127.0.0.1:9",
                "io_key": "k" * 32, "job_token": "0" * 64})
        assert refused.value.status == 401
    finally:
        anonymous.close()
        cluster.run("scancel", str(job), check=True)


def test_srun_outside_an_allocation_makes_one_runs_the_tasks_and_releases_it(
        cluster: Cluster, workdir: Path) -> None:
    result = cluster.run("srun", "-N2", "-n4", "-l", "bash", "-c",
                         "echo $SLURM_PROCID $SLURM_LOCALID $SLURM_NODEID $SLURMD_NODENAME "
                         "$SLURM_STEP_ID $SLURM_STEP_NODELIST $SLURM_STEP_TASKS_PER_NODE",
                         input="", cwd=workdir, check=True)
    job = max(job_ids(cluster))
    record = cluster.wait_job(job)
    first, second = record["nodes"]
    assert sorted(result.stdout.splitlines()) == [
        f"0: 0 0 0 {first} 0 node[1-2] 2(x2)", f"1: 1 1 0 {first} 0 node[1-2] 2(x2)",
        f"2: 2 0 1 {second} 0 node[1-2] 2(x2)", f"3: 3 1 1 {second} 0 node[1-2] 2(x2)"]
    assert (record["name"], record["state"]) == ("bash", "COMPLETED")
    assert sacct_steps(cluster, job)[-1] == f"{job}.0|bash|COMPLETED|0:0"


def test_srun_exits_with_the_worst_tasks_status(cluster: Cluster, workdir: Path) -> None:
    result = cluster.run("srun", "-n2", "bash", "-c", "exit $((SLURM_PROCID * 4))", input="",
                         cwd=workdir)
    assert result.returncode == 4
    node = cluster.job(max(job_ids(cluster)))["nodes"][0]
    assert result.stderr.splitlines()[-1] == f"srun: error: {node}: task 1: Exited with exit code 4"


def test_an_impossible_srun_is_refused_and_nothing_is_queued(cluster: Cluster, workdir: Path) -> None:
    before = job_ids(cluster)
    result = cluster.run("srun", "--mem=100G", "true", input="", cwd=workdir)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "srun: error: Memory specification can not be satisfied",
        "srun: error: Unable to allocate resources: Requested node configuration is not available"]
    assert job_ids(cluster) == before


def test_salloc_runs_the_command_in_the_allocation_then_relinquishes_it(
        cluster: Cluster, workdir: Path) -> None:
    result = cluster.run("salloc", "-N2", "bash", "-c",
                         "echo nodes=$SLURM_NNODES list=$SLURM_JOB_NODELIST; srun -l hostname "
                         "| sort; exit 5", input="", cwd=workdir)
    assert result.returncode == 5
    # Both nodes may still be finishing an earlier test's job: salloc then says it waits.
    waiting = ("salloc: Pending job allocation", "queued and waiting for resources",
               "has been allocated resources")
    lines = [line for line in result.stderr.splitlines()
             if not any(w in line for w in waiting)]
    job = int(lines[0].rpartition(" ")[2])
    assert lines == [f"salloc: Granted job allocation {job}",
                     f"salloc: Relinquishing job allocation {job}"]
    host = os.uname().nodename
    assert result.stdout == f"nodes=2 list=node[1-2]\n0: {host}\n1: {host}\n"
    # As in Slurm, the allocation ends with its command's status.
    assert cluster.wait_job(job)["state"] == "FAILED"


def test_srun_pty_gives_an_interactive_shell_on_a_terminal(cluster: Cluster, workdir: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(workdir)
        env = {**cluster.env, "PS1": "remote$ ", "TERM": "dumb"}
        os.execvpe("srun", ["srun", "--pty", "bash", "--norc", "--noprofile", "-i"], env)
    try:
        assert read_until(fd, b"remote$ ", timeout=20).endswith(b"remote$ ")
        os.write(fd, b"tty; echo hi from $SLURM_JOB_ID; exit 7\r")
        seen = read_until(fd, b"exit code 7", timeout=20)
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    assert b"/dev/pts/" in seen and b"hi from " in seen
    assert os.waitstatus_to_exitcode(status) == 7


def test_two_ctrl_c_reach_every_task_of_the_step(cluster: Cluster, workdir: Path) -> None:
    srun = subprocess.Popen(["srun", "-N2", "-n2", "bash", "-c",
                             "echo $$ > pid.$SLURM_PROCID; exec sleep 60"],
                            cwd=workdir, env=cluster.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cluster.wait_for(lambda: all((workdir / f"pid.{r}").exists() for r in (0, 1)),
                     what="both tasks to start")
    pids = task_pids(workdir, 2)
    srun.send_signal(signal.SIGINT)
    assert srun.stderr is not None
    # The first one only reports (a second one sent at once could merge with it). On a busy
    # machine srun may first have said it waited for the allocation: those lines come before.
    line = srun.stderr.readline()
    while line.startswith("srun: job "):
        line = srun.stderr.readline()
    assert line == "srun: interrupt (one more within 1 sec to abort)\n"
    srun.send_signal(signal.SIGINT)
    _, err = srun.communicate(timeout=30)
    assert srun.returncode == 130, err
    assert "srun: sending Ctrl-C to StepId=" in err
    cluster.wait_for(lambda: not any(alive(p) for p in pids), what="the tasks to end")


def test_scancel_ends_every_task_of_a_running_step(cluster: Cluster, workdir: Path) -> None:
    job = cluster.sbatch("-N2", "-n2", "-o", "out.txt", "--wrap",
                         "srun bash -c 'echo $$ > pid.$SLURM_PROCID; exec sleep 60'", cwd=workdir)
    cluster.wait_for(lambda: all((workdir / f"pid.{r}").exists() for r in (0, 1)),
                     what="both tasks to start")
    pids = task_pids(workdir, 2)
    cluster.run("scancel", str(job), check=True)
    assert cluster.wait_job(job)["state"] == "CANCELLED"
    cluster.wait_for(lambda: not any(alive(p) for p in pids), what="the tasks to end")
    wait_steps_settled(cluster, job)
    assert sacct_steps(cluster, job)[-1] == f"{job}.0|bash|CANCELLED|0:15"


def test_ranks_that_meet_over_tcp_run_under_srun_in_a_two_node_job(
        cluster: Cluster, workdir: Path) -> None:
    program = workdir / "rendezvous.py"
    program.write_text(RENDEZVOUS)
    program.chmod(0o755)
    job = cluster.sbatch("-N2", "-n2", "-o", "out.txt", "--wrap", f"srun -l {program}",
                         cwd=workdir)
    record = cluster.wait_job(job)
    assert record["state"] == "COMPLETED"
    first, second = record["nodes"]
    assert sorted((workdir / "out.txt").read_text().splitlines()) == [
        f"0: rank 0 on {first} got: hello from rank 1 on {second}",
        f"1: rank 1 on {second} got: ack"]


def test_submitit_runs_its_function_through_srun(cluster: Cluster, workdir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    submitit = pytest.importorskip("submitit")
    for key, value in cluster.env.items():
        monkeypatch.setenv(key, value)
    executor = submitit.AutoExecutor(folder=str(workdir / "submitit"), cluster="slurm")
    executor.update_parameters(timeout_min=5, slurm_mem="100M")
    # A function that pickles by reference, as a test module's would not.
    job = executor.submit(os.getenv, "SLURM_STEP_ID")
    assert job.result() == "0"
    wait_steps_settled(cluster, int(job.job_id))
    step_id, name, state, exit_code = sacct_steps(cluster, int(job.job_id))[-1].split("|")
    assert (step_id, state, exit_code) == (f"{job.job_id}.0", "COMPLETED", "0:0")
    assert name.startswith("python")
