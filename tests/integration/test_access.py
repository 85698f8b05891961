"""Who may do what (issue 13's defects 0, 2, 3 and 4), through the real controller and commands.

Each test names the hole it closes: a job token that acted as root for anyone who read it,
a gid taken from the request, unauthenticated reads over TCP, the cluster key as any user,
unbounded array expansion, fields only the commands checked, and a retried submit made twice.
"""

from __future__ import annotations

import os
import pwd
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from databases import fresh_database
from proxy import Proxy

from cluster import Cluster, as_user
from corral.cli.slurm.sbatch_options import build_request, wrap_script
from corral.client import Client

NOBODY = pwd.getpwnam("nobody")


def _tcp(cluster: Cluster) -> str:
    return f"http://127.0.0.1:{cluster.port}/api/v1"


def _nobody(cluster: Cluster, act: Any) -> dict[str, Any]:
    reply = as_user(NOBODY.pw_uid, NOBODY.pw_gid, lambda: act(Client(str(cluster.socket))))
    assert isinstance(reply, dict)
    return reply


def _running_job_token(cluster: Cluster, workdir: Path) -> tuple[int, str]:
    """A root job that is running, and its CORRAL_JOB_TOKEN (read here as root, its owner)."""
    out = workdir / "token.out"
    job = cluster.sbatch("-o", str(out), "--wrap", "echo $CORRAL_JOB_TOKEN; sleep 120", cwd=workdir)
    cluster.wait_for(lambda: out.exists() and out.read_text().strip() != "",
                     what="the job to print its token")
    return job, out.read_text().strip()


def test_reads_over_tcp_need_a_caller(cluster: Cluster) -> None:
    job = cluster.sbatch("-o", "/dev/null", "--wrap", "true")
    with httpx.Client(base_url=_tcp(cluster)) as http:
        assert http.get("/ping").status_code == 200  # the health check stays open
        for path in ("/jobs", f"/jobs/{job}", f"/jobs/{job}/events", "/nodes", "/nodes/node1",
                     "/partitions", "/accounts", "/config", "/shares", "/priorities",
                     "/accounting/jobs", f"/jobs/{job}/why", "/whoami"):
            reply = http.get(path)
            assert reply.status_code == 401, (path, reply.text)
            assert "authentication required" in reply.json()["detail"]


def test_the_cluster_key_is_an_agent_never_a_user(cluster: Cluster, workdir: Path) -> None:
    headers = {"Authorization": f"Bearer {cluster.key}", "X-Corral-Uid": "0"}
    with httpx.Client(base_url=_tcp(cluster), headers=headers) as http:
        for method, path, body in (("GET", "/whoami", None), ("GET", "/jobs", None),
                                   ("POST", "/jobs", {"script": "#!/bin/sh\nid\n",
                                                      "work_dir": str(workdir)}),
                                   ("POST", "/jobs/cancel", {"user": "root"}),
                                   ("POST", "/accounts/admin", {"verb": "add", "entity": "account",
                                                                "names": ["keyholders"]})):
            reply = http.request(method, path, json=body)
            assert reply.status_code == 401, (path, reply.text)
            assert reply.json()["detail"] == "the cluster key authenticates agents, not users"
    accounts = cluster.run("sacctmgr", "-nP", "show", "account", "format=account").stdout
    assert "keyholders" not in accounts


def test_a_job_token_acts_on_its_own_job_only_and_never_as_root(cluster: Cluster,
                                                                  workdir: Path) -> None:
    job, token = _running_job_token(cluster, workdir)
    other = cluster.sbatch("-H", "-o", "/dev/null", "--wrap", "true", cwd=workdir)
    env = {"CORRAL_CONTROLLER": f"http://127.0.0.1:{cluster.port}", "CORRAL_JOB_TOKEN": token,
           "SLURM_JOB_ID": str(job)}

    def with_token(act: Any) -> Any:
        return as_user(NOBODY.pw_uid, NOBODY.pw_gid, lambda: act(Client.from_env(env)))

    who = with_token(lambda c: c.request("GET", "/whoami"))
    assert who["ok"] == {"uid": 0, "gid": 0, "user": "root", "operator": False, "job": job}
    submit = with_token(lambda c: c.submit({"script": "#!/bin/sh\nid > /tmp/pwned\n",
                                            "work_dir": "/tmp"}))
    assert submit["status"] == 403, submit
    admin = with_token(lambda c: c.request("POST", "/accounts/admin", {
        "verb": "add", "entity": "account", "names": ["tokenholders"]}))
    assert admin["status"] == 403, admin
    drain = with_token(lambda c: c.request("PATCH", "/nodes/node1",
                                           {"state": "DRAIN", "reason": "mine"}))
    assert drain["status"] == 403, drain
    release = with_token(lambda c: c.release(other))
    assert release["status"] == 403, release
    cancel_other = with_token(lambda c: c.cancel(job_ids=[other]))
    assert cancel_other["ok"]["errors"] == [{"job_id": other, "error": "Access/permission denied"}]
    assert cluster.job(other)["state"] == "PENDING"
    assert "tokenholders" not in cluster.run("sacctmgr", "-nP", "show", "account").stdout
    assert cluster.run("sinfo", "-h", "-n", "node1", "-o", "%T").stdout.strip() != "drained"
    # What the token is for still works: its own job.
    cancel_own = with_token(lambda c: c.cancel(job_ids=[job]))
    assert cancel_own["ok"]["cancelled"] == [job], cancel_own
    cluster.wait_job(job)
    # A token of a job that ended is worth nothing.
    assert with_token(lambda c: c.request("GET", "/whoami"))["status"] == 401
    cluster.run("scancel", str(other), check=True)


def test_a_job_runs_with_the_callers_gid_and_groups_never_the_requests(cluster: Cluster,
                                                                          workdir: Path) -> None:
    workdir.chmod(0o777)
    request = build_request({"output": "id.txt"}, script=wrap_script("id -g; id -G"),
                            script_args=[], default_name="wrap", cwd=str(workdir),
                            environ={"PATH": "/usr/bin:/bin"}, hostname="login", command="")
    refused = _nobody(cluster, lambda c: c.submit({**request, "gid": 0}))
    assert refused["status"] == 403
    assert "another group" in refused["error"]
    job = _nobody(cluster, lambda c: c.submit(request))["ok"]["job_id"]
    record = cluster.wait_job(job)
    assert (record["state"], record["gid"]) == ("COMPLETED", NOBODY.pw_gid)
    primary, groups = (workdir / "id.txt").read_text().split("\n")[:2]
    assert int(primary) == NOBODY.pw_gid
    assert "0" not in groups.split()
    # root may still submit for a user, as Slurm's --uid does, and gets that user's group.
    with cluster.client() as client:
        job = client.submit({**request, "uid": NOBODY.pw_uid, "stdout": "id-root.txt"})["job_id"]
    assert cluster.wait_job(job)["gid"] == NOBODY.pw_gid


def test_huge_arrays_and_id_ranges_are_refused_before_expansion(cluster: Cluster,
                                                                 workdir: Path) -> None:
    controller = psutil.Process(cluster.controller.pid)  # type: ignore[union-attr]
    before = controller.memory_info().rss
    result = cluster.run("sbatch", "--array=0-999999999", "--wrap", "true", cwd=workdir)
    assert result.returncode != 0
    assert "Invalid job array specification" in result.stderr
    reply = _nobody(cluster, lambda c: c.submit({"script": "#!/bin/sh\ntrue\n", "work_dir": "/tmp",
                                                 "array": ",".join(["0-100000"] * 5000)}))
    assert "ok" in reply, reply  # a big but legal spec: accepted, at a bounded cost
    cluster.run("scancel", str(reply["ok"]["job_id"]), check=True)
    array = cluster.sbatch("-H", "--array=0-3", "-o", "/dev/null", "--wrap", "true", cwd=workdir)
    result = cluster.run("scancel", f"{array}_[0-99999999]")
    assert result.returncode != 0
    assert "Invalid job id specified" in result.stderr
    assert cluster.job(array)["state"] == "PENDING"  # nothing was cancelled
    # A spec bounded by MaxArraySize costs at most that many bytes, never gigabytes.
    assert controller.memory_info().rss - before < 200 * 1024 * 1024
    cluster.run("scancel", str(array), check=True)


def test_the_controller_checks_every_field_with_the_commands_rules(cluster: Cluster,
                                                                    workdir: Path) -> None:
    result = cluster.run("sbatch", "--begin=now+99999999999999days", "--wrap", "true", cwd=workdir)
    assert (result.returncode, result.stderr.strip()) == (
        255, "sbatch: error: Invalid --begin specification")
    base = {"script": "#!/bin/sh\ntrue\n", "work_dir": str(workdir)}
    for field, value, message in (
            ("begin_time", 1e20, "Invalid --begin specification"),
            ("deadline", 1e300, "Invalid --deadline specification"),
            ("signal", "B:USR1@x", "Invalid --signal specification"),
            ("signal", "FOO", "Invalid --signal specification"),
            ("time_limit", 10**15, "Invalid --time specification"),
            ("work_dir", "relative/dir", "work directory must be an absolute path"),
            ("name", "a\0b", "name contains a NUL character"),
            ("mail_type", "SOMETIMES", "--mail-type=SOMETIMES invalid")):
        reply = _nobody(cluster, lambda c, f=field, v=value: c.submit({**base, f: v}))
        assert reply["status"] == 400, (field, reply)
        assert message in reply["error"], (field, reply)
    nice = _nobody(cluster, lambda c: c.submit({**base, "nice": -1000}))
    assert nice["status"] == 403
    assert "negative nice" in nice["error"]
    refused = cluster.run("sbatch", "--nice=-1000", "--wrap", "true", cwd=workdir)
    assert refused.returncode == 0  # root is an operator and may
    cluster.run("scancel", refused.stdout.split()[-1], check=True)
    # Nothing above was queued, and every job still prints for every user.
    shown = _nobody(cluster, lambda c: [c.job(j["job_id"]) for j in c.request("GET", "/jobs")])
    assert "ok" in shown, shown
    assert cluster.run("scontrol", "show", "job").returncode == 0


def test_a_submit_whose_reply_was_lost_is_not_made_twice(cluster: Cluster, tmp_path: Path) -> None:
    proxy = Proxy.unix(str(tmp_path / "lossy.sock"), str(cluster.socket))
    name = f"once-{os.getpid()}-{time.monotonic_ns()}"
    with Client(str(tmp_path / "lossy.sock")) as client:
        client.ping()  # a kept-alive connection, which the transport retries on
        proxy.drop_reply_after(b"POST /api/v1/jobs ")
        reply = client.submit({"script": "#!/bin/sh\ntrue\n", "work_dir": "/tmp", "name": name,
                               "stdout": "/dev/null", "hold": True})
    assert proxy.dropped == 1  # the controller's first reply never reached the client
    with cluster.client() as client:
        mine = [j for j in client.request("GET", "/jobs") if j["name"] == name]
    assert [j["job_id"] for j in mine] == [reply["job_id"]]
    cluster.run("scancel", str(reply["job_id"]), check=True)
    proxy.cut()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with fresh_database("postgresql") as (_, name):
        yield name


def test_a_database_outage_answers_503_and_the_commands_say_so(postgres_url: str,
                                                               tmp_path: Path) -> None:
    proxy = Proxy.tcp(("127.0.0.1", 5432))
    root = tmp_path / "outage"
    cluster = Cluster(root, nodes=1,
                      db_url=f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/{postgres_url}")
    try:
        cluster.start()
        proxy.cut()  # the database is gone; the controller's connections with it
        result = cluster.run("sbatch", "--wrap", "true", cwd=tmp_path)
        assert result.returncode != 0
        assert result.stderr.strip().splitlines() == [
            "sbatch: error: Batch job submission failed: database unavailable, retry"]
        with cluster.client() as client:
            status = client._connection().request("POST", "/api/v1/jobs", b'{"script":"#!/bin/sh\\n",'
                                                  b'"work_dir":"/tmp"}',
                                                  {"Content-Type": "application/json"})[0]
        assert status == 503
        assert cluster.run("squeue", "-h").returncode == 0  # reads are served from memory
    finally:
        cluster.stop()
        proxy.cut()
