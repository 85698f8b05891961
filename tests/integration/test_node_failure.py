"""Silent and DOWN nodes (issue 13, defect 7) and split GPU machines (defect 8), through the
real commands, a real controller and agents killed and restarted as processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from cluster import BIN, Cluster, free_port
from corral.agent import gpus

pytestmark = pytest.mark.integration

# SlurmdTimeout of a few seconds, so that a silent node is found out in seconds.
SHORT_TIMEOUT = "[controller]\nnode_timeout = 3\n"


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[Cluster]:
    tmp_path.chmod(0o755)
    running = Cluster(tmp_path / "c", config=SHORT_TIMEOUT).start()
    yield running
    running.stop()


def _responding(c: Cluster, name: str) -> bool:
    with c.client() as client:
        return bool(next(n for n in client.nodes() if n["name"] == name)["responding"])


def _sacct_state(c: Cluster, job: int) -> str:
    return c.run("sacct", "-n", "-X", "-P", "-j", str(job), "-o", "State,ExitCode",
                 check=True).stdout.strip()


def _pid_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _write_pid_and_wait(pidfile: Path) -> str:
    return f"echo $$ > {pidfile}; echo $SLURMD_NODENAME; while :; do sleep 0.1; done"


def test_down_ends_a_silent_nodes_jobs_node_fail_and_requeues_those_that_allow_it(
        own_cluster: Cluster, tmp_path: Path) -> None:
    c = own_cluster
    gate = tmp_path / "gate"
    blocker = c.sbatch("-w", "node2", "-c", "2", "-o", "/dev/null", "--wrap",
                       f"while [ ! -e {gate} ]; do sleep 0.1; done", cwd=tmp_path)
    c.wait_job(blocker, states=["RUNNING"])
    stays = c.sbatch("-w", "node1", "--no-requeue", "-o", "stays.out", "--wrap",
                     _write_pid_and_wait(tmp_path / "stays.pid"), cwd=tmp_path)
    # Lands on node1 (node2 is full) and runs there until killed; elsewhere it just ends.
    again = c.sbatch("--requeue", "-o", "again-%j.out", "--wrap",
                     f"echo $SLURMD_NODENAME; [ $SLURMD_NODENAME != node1 ] || "
                     f"{{ {_write_pid_and_wait(tmp_path / 'again.pid')}; }}", cwd=tmp_path)
    c.wait_for(lambda: (tmp_path / "stays.pid").exists() and (tmp_path / "again.pid").exists(),
               what="both jobs to run")
    pids = [int((tmp_path / name).read_text()) for name in ("stays.pid", "again.pid")]

    c.stop_process(c.agents["node1"], signal.SIGKILL)  # the node goes silent; its jobs run on
    assert c.job(stays)["state"] == "RUNNING"
    result = c.run("scontrol", "update", "NodeName=node1", "State=DOWN", "Reason=dead agent")
    assert result.returncode == 0, result.stderr

    assert _sacct_state(c, stays) == "NODE_FAIL|0:0"
    requeued = c.job(again)
    assert (requeued["state"], requeued["restarts"]) == ("PENDING", 1)
    show = c.run("scontrol", "show", "node", "node1", check=True).stdout
    assert "State=DOWN" in show and "Reason=dead agent" in show

    gate.touch()  # node2 comes free: the requeued job runs there
    assert c.wait_job(again)["state"] == "COMPLETED"
    assert (tmp_path / f"again-{again}.out").read_text().splitlines()[-1] == "node2"

    # The DOWN node's agent comes back: what it still ran of the ended jobs is stopped.
    c.start_agent("node1")
    for pid in pids:
        c.wait_for(lambda p=pid: _pid_gone(p), what=f"process {pid} of a failed job to be killed")
    assert _sacct_state(c, stays) == "NODE_FAIL|0:0"


def test_no_job_goes_to_a_node_whose_agent_died_or_went_silent(own_cluster: Cluster,
                                                               tmp_path: Path) -> None:
    c = own_cluster
    c.stop_process(c.agents["node1"], signal.SIGKILL)
    c.wait_for(lambda: not _responding(c, "node1"), what="node1 to be seen gone")
    assert "down*" in c.run("sinfo", "-h", "-n", "node1", "-o", "%t", check=True).stdout
    assert c.run("sinfo", "-h", "-R", "-n", "node1", "-o", "%E", check=True).stdout.strip() \
        == "Not responding"
    pinned = c.sbatch("-w", "node1", "-o", "/dev/null", "--wrap", "true", cwd=tmp_path)
    free = c.sbatch("-o", "/dev/null", "--wrap", "true", cwd=tmp_path)
    assert c.wait_job(free)["state"] == "COMPLETED"
    assert c.job(free)["nodes"] == ["node2"]
    assert c.job(pinned)["state"] == "PENDING"

    # A silent agent (stopped, its connection still open) misses its heartbeats the same way.
    c.agents["node2"].send_signal(signal.SIGSTOP)
    try:
        c.wait_for(lambda: not _responding(c, "node2"), what="node2 to miss its heartbeats")
        late = c.sbatch("-w", "node2", "-o", "/dev/null", "--wrap", "true", cwd=tmp_path)
        c.start_agent("node1")
        c.wait_for(lambda: _responding(c, "node1"), what="node1 to return")
        assert c.wait_job(pinned)["state"] == "COMPLETED"
        assert c.job(late)["state"] == "PENDING"
    finally:
        c.agents["node2"].send_signal(signal.SIGCONT)
    assert c.wait_job(late)["state"] == "COMPLETED"


def test_a_returning_node_reports_the_job_it_lost_as_node_fail(own_cluster: Cluster,
                                                                tmp_path: Path) -> None:
    c = own_cluster
    job = c.sbatch("-w", "node1", "--no-requeue", "-o", "/dev/null", "--wrap",
                   _write_pid_and_wait(tmp_path / "job.pid"), cwd=tmp_path)
    c.wait_for(lambda: (tmp_path / "job.pid").exists(), what="the job to run")
    # The node crashes: its agent, the job's supervisor and the job all die at once.
    c.stop_process(c.agents["node1"], signal.SIGKILL)
    jobs_dir = str(c.root / "agents" / "node1")
    doomed = [p for p in psutil.process_iter(["cmdline"])
              if any(jobs_dir in part for part in p.info["cmdline"] or ())]
    doomed += [child for p in doomed for child in p.children(recursive=True)]
    assert doomed
    for proc in doomed:
        proc.kill()
    # Gone for good (reaped), as after a reboot: not a zombie that still looks alive.
    c.wait_for(lambda: not any(psutil.pid_exists(p.pid) for p in doomed), what="the node to die")
    c.start_agent("node1")
    record = c.wait_job(job)
    assert (record["state"], record["exit_code"], record["exit_signal"]) == ("NODE_FAIL", 0, 0)
    assert _sacct_state(c, job) == "NODE_FAIL|0:0"


# -- corral up: agents restarted, GPUs split -------------------------------------------------

@pytest.fixture
def all_in_one(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, dict[str, str]]]:
    if gpus.driver_present():
        # With real GPUs the split takes the machine's own (and under device cgroups a job
        # numbers its GPUs from 0); this test checks the bookkeeping with declared ones.
        pytest.skip("this machine has NVIDIA GPUs; the split is checked with declared GPUs")
    tmp_path.chmod(0o755)
    data = tmp_path / "data"
    env = {**os.environ, "CORRAL_CONTROLLER": str(data / "corral.sock"),
           "PATH": f"{BIN}:{os.environ['PATH']}"}
    env.pop("CORRAL_CLUSTER_KEY", None)
    with open(tmp_path / "up.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "corral.entry", "up", "--nodes", "2", "--cpus-per-node", "1",
             "--memory-per-node", "1G", "--gpus-per-node", "2", "--data-dir", str(data),
             "--port", str(free_port())],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    helper = Cluster(tmp_path / "unused")
    helper.socket, helper.env = data / "corral.sock", env
    try:
        helper.wait_for(lambda: b"corral is up" in (tmp_path / "up.log").read_bytes()
                        or proc.poll() is not None, what="corral up")
        assert proc.poll() is None, (tmp_path / "up.log").read_text()
        yield proc, data, env
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        subprocess.run(["pkill", "-KILL", "-f", f"corral.agent.supervisor {data}"], check=False)
        shutil.rmtree(tmp_path / "unused", ignore_errors=True)


def _agent_pid(data: Path, name: str) -> int | None:
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "agent" in cmd and name in cmd and str(data / "agents" / name) in cmd:
            return int(proc.pid)
    return None


def test_corral_up_restarts_an_agent_that_died_and_gives_each_node_its_own_gpus(
        all_in_one: tuple[subprocess.Popen[bytes], Path, dict[str, str]], tmp_path: Path) -> None:
    proc, data, env = all_in_one
    c = Cluster(tmp_path / "view")
    c.socket, c.env = data / "corral.sock", env

    first = _agent_pid(data, "node1")
    assert first is not None
    os.kill(first, signal.SIGKILL)
    c.wait_for(lambda: _agent_pid(data, "node1") not in (None, first), what="a new agent for node1")
    c.wait_for(lambda: _responding(c, "node1"), what="node1 to register again")
    assert proc.poll() is None  # the all-in-one cluster goes on

    jobs = {name: c.sbatch("-w", name, "--gres=gpu:2", "-o", f"{name}.out", "--wrap",
                           "echo $CUDA_VISIBLE_DEVICES", cwd=tmp_path) for name in ("node1", "node2")}
    for job in jobs.values():
        assert c.wait_job(job)["state"] == "COMPLETED"
    seen = {name: (tmp_path / f"{name}.out").read_text().strip() for name in jobs}
    assert seen == {"node1": "0,1", "node2": "2,3"}
