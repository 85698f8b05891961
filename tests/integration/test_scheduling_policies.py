"""Scheduling policies on a live cluster, through the real commands: backfill, fair-share
between two users, a QOS limit and preemption (multifactor priority, accounting enforced)."""

from __future__ import annotations

import contextlib
import io
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import Cluster, as_user
from corral.cli.slurm.sbatch import main as sbatch_main

pytestmark = pytest.mark.integration

CONFIG = """
[scheduler]
priority_type = "multifactor"
weight_fairshare = 10000
decay_half_life = "7-0"
preempt_mode = "cancel"

[[partitions]]
name = "batch"
nodes = "ALL"
default = true
"""

# Two real users besides root, so that fair-share has someone to compare.
HEAVY = pwd.getpwuid(1000).pw_name if any(p.pw_uid == 1000 for p in pwd.getpwall()) else None
LIGHT = "nobody"


@pytest.fixture(scope="module")
def policy_cluster() -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="corral-test-policy-"))
    root.chmod(0o755)
    running = Cluster(root, nodes=2, cpus=2, config=CONFIG).start()
    yield running
    running.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="corral-test-policy-work-"))
    path.chmod(0o777)  # other users' jobs write their output here
    yield path
    shutil.rmtree(path, ignore_errors=True)


def submit(cluster: Cluster, user: str, *args: str, cwd: Path) -> int:
    """sbatch, run as `user` (sbatch's own code in a forked child that became the user)."""
    argv = ["--parsable", "-o", "/dev/null", *args]
    if user == "root":
        return cluster.sbatch(*argv, cwd=cwd)
    account = pwd.getpwnam(user)

    def sbatch() -> dict[str, object]:
        os.environ.update(cluster.env)
        os.chdir(cwd)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = sbatch_main(argv)
        return {"code": code, "out": out.getvalue(), "err": err.getvalue()}

    reply = as_user(account.pw_uid, account.pw_gid, sbatch)
    result = reply["ok"]  # type: ignore[index]
    assert result["code"] == 0, result
    return int(result["out"].strip())


def clean(cluster: Cluster) -> None:
    cluster.run("scancel", "--user", "root", check=True)
    for user in (HEAVY, LIGHT):
        if user:
            cluster.run("scancel", "--user", user, check=True)
    cluster.wait_for(lambda: not cluster.run("squeue", "-h").stdout.strip(), timeout=60,
                     what="the queue to empty")


def test_short_job_backfills_past_a_wide_job_and_a_long_one_waits(
        policy_cluster: Cluster, shared_dir: Path) -> None:
    c = policy_cluster
    busy = submit(c, "root", "-N1", "-c2", "--time=3", "--wrap", "sleep 120", cwd=shared_dir)
    c.wait_job(busy, ["RUNNING"])
    wide = submit(c, "root", "-N2", "-c2", "--time=1", "--wrap", "true", cwd=shared_dir)
    long = submit(c, "root", "-N1", "-c2", "--time=10", "--wrap", "sleep 60", cwd=shared_dir)
    short = submit(c, "root", "-N1", "-c2", "--time=1", "--wrap", "sleep 30", cwd=shared_dir)
    c.wait_job(short, ["RUNNING"])
    assert c.job(wide)["reason"] == "Resources"
    # The long job would still hold the free node when the wide job's reservation begins.
    assert (c.job(long)["state"], c.job(long)["reason"]) == ("PENDING", "Priority")
    start = c.run("squeue", "--start", "-h", "-j", f"{wide},{long}", "-o", "%i %S").stdout.split()
    assert start[0] == str(wide) and start[1] != "N/A"
    why = c.run("corral", "why", str(wide)).stdout
    assert f"Job {wide} is the first job waiting in partition batch" in why
    assert "reserved for it" in why
    clean(c)


@pytest.mark.skipif(HEAVY is None, reason="needs a second local user with uid 1000")
def test_lighter_user_goes_first_by_fair_share(policy_cluster: Cluster, shared_dir: Path) -> None:
    c = policy_cluster
    assert HEAVY is not None
    hog = submit(c, HEAVY, "-N2", "-c2", "--time=1", "--wrap", "sleep 4", cwd=shared_dir)
    c.wait_job(hog, ["RUNNING"])
    first = submit(c, HEAVY, "-N2", "-c2", "--time=1", "--wrap", "sleep 1", cwd=shared_dir)
    second = submit(c, LIGHT, "-N2", "-c2", "--time=1", "--wrap", "sleep 1", cwd=shared_dir)
    c.wait_for(lambda: c.job(second)["state"] != "PENDING", timeout=60,
               what="the light user's job to start")
    assert c.job(first)["state"] == "PENDING"  # submitted earlier, but its user used more
    shares = c.run("sshare", "-a", "-P", "-n", "-o", "Account,User,RawUsage,FairShare").stdout
    rows = {line.split("|")[1]: line.split("|") for line in shares.splitlines()
            if line.split("|")[1]}
    assert float(rows[HEAVY][2]) > 0 and float(rows[LIGHT][2]) == 0
    assert float(rows[LIGHT][3]) > float(rows[HEAVY][3])
    c.wait_job(first, timeout=60)
    assert c.job(first)["start_time"] >= c.job(second)["start_time"]
    clean(c)


def test_qos_limit_holds_jobs_with_slurms_reason(policy_cluster: Cluster, shared_dir: Path) -> None:
    c = policy_cluster
    c.run("sacctmgr", "-i", "modify", "qos", "normal", "set", "maxjobsperuser=1", check=True)
    try:
        first = submit(c, LIGHT, "-c1", "--time=1", "--wrap", "sleep 30", cwd=shared_dir)
        second = submit(c, LIGHT, "-c1", "--time=1", "--wrap", "sleep 30", cwd=shared_dir)
        c.wait_job(first, ["RUNNING"])
        c.wait_for(lambda: c.job(second)["reason"] == "QOSMaxJobsPerUserLimit",
                   what="the QOS limit reason")
        squeue = c.run("squeue", "-h", "-j", str(second), "-o", "%T %r").stdout.strip()
        assert squeue == "PENDING QOSMaxJobsPerUserLimit"
        assert "QOSMaxJobsPerUserLimit" in c.run("corral", "why", str(second)).stdout
        c.run("scancel", str(first), check=True)
        c.wait_job(second, ["RUNNING"])
    finally:
        c.run("sacctmgr", "-i", "modify", "qos", "normal", "set", "maxjobsperuser=-1", check=True)
        clean(c)


def test_higher_qos_preempts_a_running_job(policy_cluster: Cluster, shared_dir: Path) -> None:
    c = policy_cluster
    c.run("sacctmgr", "-i", "add", "qos", "urgent", "priority=100", "preempt=normal", check=True)
    c.run("sacctmgr", "-i", "modify", "account", "root", "set", "qos+=urgent", check=True)
    victims = [submit(c, LIGHT, "-N1", "-c2", "--time=5", "--wrap", "sleep 300", cwd=shared_dir)
               for _ in range(2)]
    for job in victims:
        c.wait_job(job, ["RUNNING"])
    urgent = submit(c, "root", "-N1", "-c2", "--qos=urgent", "--time=1", "--wrap", "sleep 2",
                    cwd=shared_dir)
    c.wait_job(urgent, ["RUNNING", "COMPLETED"], timeout=60)
    ended = [c.job(j) for j in victims]
    assert sorted(j["state"] for j in ended) == ["PREEMPTED", "RUNNING"]
    victim = next(j for j in ended if j["state"] == "PREEMPTED")["job_id"]
    sacct = c.run("sacct", "-j", str(victim), "-P", "-n", "-X", "-o", "JobID,State,QOS").stdout
    assert sacct.strip() == f"{victim}|PREEMPTED|normal"
    clean(c)


def test_requeued_victim_waits_for_its_preemptor(policy_cluster: Cluster, shared_dir: Path) -> None:
    c = policy_cluster
    c.run("sacctmgr", "-i", "add", "qos", "rush", "priority=50", "preempt=normal", check=True)
    c.run("sacctmgr", "-i", "modify", "account", "root", "set", "qos+=rush", check=True)
    c.run("sacctmgr", "-i", "modify", "qos", "normal", "set", "preemptmode=requeue",
          "gracetime=2", check=True)
    try:
        victim = submit(c, LIGHT, "-N2", "-c2", "--time=5", "--wrap", "sleep 300", cwd=shared_dir)
        c.wait_job(victim, ["RUNNING"])
        rush = submit(c, "root", "-N1", "-c2", "--qos=rush", "--time=1", "--wrap", "sleep 3",
                      cwd=shared_dir)
        c.wait_job(rush, ["RUNNING"], timeout=60)
        # Back in the queue, and it does not take the nodes back before the preemptor ends.
        record = c.job(victim)
        assert (record["state"], record["restarts"]) == ("PENDING", 1)
        c.wait_job(rush, ["COMPLETED"], timeout=60)
        c.wait_job(victim, ["RUNNING"], timeout=60)
    finally:
        c.run("sacctmgr", "-i", "modify", "qos", "normal", "set", "preemptmode=cluster",
              "gracetime=0", check=True)
        clean(c)
