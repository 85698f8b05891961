"""batchspawner's SlurmSpawner, unchanged, as JupyterHub drives it: start() pipes its batch
script to `sbatch --parsable` and polls `squeue -h -j ID -o '%T %B'` (PENDING while the cluster
is full, its progress says so) until RUNNING, takes the
host from that line and waits for the port that batchspawner-singleuser posts to the hub's
/api/batchspawner from inside the job (a job step, srun); poll() asks squeue again; stop() runs
scancel. Only corral's commands are on PATH; exec_prefix is empty and the hub's user is the
user running the test, who submits as themselves."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import urllib.request
from pathlib import Path

import pytest
import tornado.web
from batchspawner import SlurmSpawner
from jupyterhub import orm
from jupyterhub.objects import Hub
from jupyterhub.user import User

from cluster import BIN, Cluster, free_port

pytestmark = pytest.mark.integration

# Stands in for jupyterhub-singleuser: batchspawner-singleuser runs it (run_path) after posting
# the port, which it hands over in JUPYTERHUB_SERVICE_URL or as --port=N.
SINGLEUSER = """\
import http.server
import os
import sys
from urllib.parse import urlparse

port = urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "")).port
for arg in sys.argv[1:]:
    if arg.startswith("--port="):
        port = int(arg.split("=", 1)[1])


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("singleuser of " + os.environ["JUPYTERHUB_USER"] + " in job "
                + os.environ["SLURM_JOB_ID"] + " step " + os.environ["SLURM_STEP_ID"]).encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)


http.server.HTTPServer(("0.0.0.0", port), Hello).serve_forever()
"""


class BatchSpawnerAPI(tornado.web.RequestHandler):
    """The hub's side of batchspawner's port report: what batchspawner.api's handler does for
    the hub (find the spawner by its API token, set the posted traits) without a whole hub."""

    def initialize(self, spawners: list[SlurmSpawner]) -> None:
        self.spawners = spawners

    def post(self) -> None:
        token = self.request.headers.get("Authorization", "").removeprefix("token ")
        spawner = next((s for s in self.spawners if s.api_token == token), None)
        if spawner is None:
            raise tornado.web.HTTPError(403)
        for key, value in json.loads(self.request.body).items():
            if hasattr(spawner, key):
                setattr(spawner, key, value)
        self.set_status(201)
        self.finish(json.dumps({"message": "BatchSpawner data configured"}))


def _spawner(cluster: Cluster, workdir: Path, hub: Hub) -> SlurmSpawner:
    db = orm.new_session_factory("sqlite:///:memory:")()
    orm_user = orm.User(name=pwd.getpwuid(os.getuid()).pw_name)
    db.add(orm_user)
    db.commit()
    user = User(orm_user, {"hub": hub})
    singleuser = workdir / "singleuser.py"
    singleuser.write_text(SINGLEUSER)
    singleuser.chmod(0o755)
    spawner = user._new_spawner(
        "", spawner_class=SlurmSpawner, hub=hub, user=user, cmd=[str(singleuser)],
        exec_prefix="", req_runtime="00:05:00", req_memory="200M", req_nprocs="1",
        startup_poll_interval=0.2, req_homedir=str(workdir),
        batchspawner_singleuser_cmd=str(BIN / "batchspawner-singleuser"),
        # The deployment's own settings reach sbatch as JupyterHub passes any: env_keep.
        env_keep=["PATH", "LANG", *sorted(k for k in cluster.env if k.startswith("CORRAL_"))])
    return spawner


def test_slurm_spawner_starts_finds_and_stops_a_server(cluster: Cluster, workdir: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{BIN}:/usr/bin:/bin")
    for key, value in cluster.env.items():
        if key.startswith("CORRAL_"):
            monkeypatch.setenv(key, value)
    hub = Hub(ip="127.0.0.1", port=free_port(), base_url="/hub/")
    spawner = _spawner(cluster, workdir, hub)

    # A busy cluster: the server's job waits until this one is cancelled.
    blocker = cluster.sbatch("-N2", "--exclusive", "--wrap", "sleep 300", cwd=workdir)
    cluster.wait_job(blocker, ["RUNNING"])

    async def pending_then_freed() -> tuple[str, str]:
        while not spawner.state_ispending():
            await asyncio.sleep(0.1)
        seen = spawner.job_status
        progress = await anext(spawner.progress())
        cluster.run("scancel", str(blocker), check=True)
        return seen, str(progress["message"])

    async def scenario() -> tuple[str, int, str, object, object]:
        app = tornado.web.Application(
            [(r"/hub/api/batchspawner", BatchSpawnerAPI, {"spawners": [spawner]})])
        server = app.listen(hub.port, "127.0.0.1")
        try:
            assert await spawner.poll() == 1  # nothing submitted yet
            # As User.spawn does: a fresh API token, then start() under a timeout.
            spawner.api_token = "batchspawner-test-token"
            starting = asyncio.ensure_future(asyncio.wait_for(spawner.start(), timeout=60))
            # squeue says PENDING (host n/a) while the cluster is full: start() keeps waiting.
            seen, message = await asyncio.wait_for(pending_then_freed(), timeout=30)
            assert seen == "PENDING n/a" and message == "Pending in queue..."
            ip, port = await starting
            job_id = spawner.job_id
            page = await asyncio.to_thread(
                lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read())
            running = await spawner.poll()
            # The controller not answering (a restart): squeue says so in Slurm's words and
            # poll() keeps the server, where any other answer would end it.
            with monkeypatch.context() as down:
                down.setenv("CORRAL_CONTROLLER", str(workdir / "no-controller.sock"))
                assert await spawner.poll() is None
                assert spawner.job_status.startswith("slurm_load_jobs error: Unable to contact")
            assert spawner.job_id == job_id
            await spawner.stop()
            stopped = await spawner.poll()
            return ip, port, job_id, (page.decode(), running), stopped
        finally:
            server.stop()

    ip, port, job_id, (page, running), stopped = asyncio.run(scenario())
    assert ip in cluster.node_names
    assert port > 0
    # The stand-in answered from the job's first step (srun), as the user, at the port it posted.
    assert page == f"singleuser of {spawner.user.name} in job {job_id} step 0"
    assert running is None  # poll(): still running
    assert stopped == 1  # poll() after stop(): gone, state cleared
    assert spawner.job_id == ""
    job = cluster.wait_job(int(job_id))
    assert job["state"] == "CANCELLED"
    log = (workdir / f"jupyterhub_slurmspawner_{job_id}.log").read_text()
    # scancel reached the batch script (batchspawner's trap) and the step, in Slurm's words.
    assert "SIGTERM received" in log and f"JOB {job_id} ON {ip} CANCELLED AT" in log, log
