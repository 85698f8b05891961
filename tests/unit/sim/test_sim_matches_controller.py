"""The live controller's JobManager, driven in-process on a manual clock with a SQLite store,
and the simulator, fed the same workload, start the same jobs at the same times on the same
nodes."""

from __future__ import annotations

import heapq
import math
import random
from pathlib import Path

import pytest

from corral.api.agent_protocol import FinishedReport
from corral.clock import ManualClock
from corral.controller.jobs import Caller, JobManager
from corral.controller.nodes import Node, NodeRegistry
from corral.controller.writer import drive
from corral.entry import main as corral
from corral.model.job import JobSpec
from corral.model.states import JobState
from corral.settings import ControllerSettings
from corral.sim.accounting import from_accounting
from corral.sim.replay import replay
from corral.sim.swf import read_lines
from corral.sim.workload import from_trace
from corral.store.store import Store, sqlite_url

NODES, CORES = 4, 2


def _jobs() -> list[tuple[int, int, int, int]]:
    """(submit, processors, run s, requested s), a mix that keeps a queue and backfills."""
    rng = random.Random(11)
    out, submit = [], 0
    for _ in range(30):
        submit += rng.choice([0, 30, 90])
        procs = rng.choice([1, 2, 3, 4, 8])
        run = rng.choice([60, 300, 700, 1500])
        out.append((submit, procs, run, rng.choice([run, run + 120, 2 * run, run - 30])))
    return out


def _controller_starts(tmp_path: Path, jobs: list[tuple[int, int, int, int]]
                       ) -> dict[int, tuple[int, tuple[str, ...]]]:
    clock = ManualClock(0.0)
    store = Store.open(sqlite_url(tmp_path))
    registry = NodeRegistry([Node(f"node{i:04d}", CORES, 64000, connected=True)
                             for i in range(1, NODES + 1)])
    settings = ControllerSettings(data_dir=tmp_path, db_url=sqlite_url(tmp_path),
                                  socket_path=tmp_path / "corral.sock")
    manager = JobManager(settings, store, registry, clock)
    for node in registry.nodes.values():
        store.save_node(node.name, node.persistent())
    caller = Caller(uid=1000, gid=1000, user="alice")
    arrivals = list(enumerate(jobs, start=1))
    ends: list[tuple[int, int]] = []
    runs: dict[int, tuple[int, int]] = {}
    started: dict[int, tuple[int, tuple[str, ...]]] = {}
    try:
        while arrivals or ends:
            now = min(arrivals[0][1][0] if arrivals else math.inf, ends[0][0] if ends else math.inf)
            clock.now = float(now)
            for node in registry.nodes.values():
                node.last_seen = clock.now
            while ends and ends[0][0] == now:
                _, job_id = heapq.heappop(ends)
                job = manager.jobs[job_id]
                run, limit = runs[job_id]
                drive(manager.agent_reports(job.nodes[0], [FinishedReport(
                    job_id=job_id, attempt=job.attempt,
                    exit_code=0, timed_out=run > limit, end_time=float(now))]))
                for node in job.nodes[1:]:  # the other nodes confirm their cleanup at once
                    drive(manager.agent_reports(node, [FinishedReport(job_id=job_id, attempt=job.attempt,
                                                                never_ran=True)]))
            while arrivals and arrivals[0][1][0] == now:
                number, (_, procs, run, req) = arrivals.pop(0)
                nodes = math.ceil(procs / CORES)
                spec = JobSpec(name=f"j{number}", uid=1000, gid=1000, user="alice", group="g",
                               work_dir=str(tmp_path), script="#!/bin/sh\ntrue\n",
                               num_nodes=nodes, num_tasks=procs,
                               time_limit=math.ceil(req / 60))
                job = drive(manager.submit(spec, caller))
                runs[job.job_id] = (run, math.ceil(req / 60) * 60)
            drive(manager.schedule())
            for job in manager.jobs.values():
                if job.state is JobState.RUNNING and job.job_id not in started:
                    started[job.job_id] = (int(job.start_time or 0), job.nodes)
                    run, limit = runs[job.job_id]
                    heapq.heappush(ends, (now + min(run, limit), job.job_id))
    finally:
        store.close()
    return started


def test_controller_and_simulator_start_the_same_jobs_at_the_same_times(tmp_path: Path) -> None:
    jobs = _jobs()
    controller = _controller_starts(tmp_path, jobs)
    lines = [f"; MaxProcs: {NODES * CORES}", f"; MaxNodes: {NODES}"] + [
        f"{n} {s} -1 {run} {p} -1 -1 {p} {req} -1 1 1000 1000 -1 -1 -1 -1 -1"
        for n, (s, p, run, req) in enumerate(jobs, start=1)]
    workload = from_trace(read_lines(lines))
    assert len(workload.requests) == len(jobs)
    for exact in (False, True):
        sim = {o.job_id: (o.start, tuple(sorted(o.hosts)))
               for o in replay(workload, "easy", exact=exact).outcomes}
        assert sim == {j: (start, tuple(sorted(hosts))) for j, (start, hosts) in controller.items()}
    order = sorted(controller, key=lambda j: (controller[j][0], j))
    assert order != sorted(controller)  # some jobs were backfilled past earlier ones


def test_replaying_the_accounting_reproduces_the_clusters_history(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    controller = _controller_starts(tmp_path, _jobs())
    url = sqlite_url(tmp_path)
    workload = from_accounting(url, None)
    assert [n.name for n in workload.machine.nodes] == [f"node{i:04d}" for i in range(1, 5)]
    assert len(workload.requests) == len(controller) and not workload.skipped
    sim = {o.job_id: (o.start, o.hosts) for o in replay(workload, "easy").outcomes}
    assert sim == controller
    # What if the cluster had twice the nodes? Through the command, as an admin would ask.
    assert corral(["sim", "--from-accounting", "--db", url, "--nodes", "8",
                   "--cpus-per-node", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "30 jobs on 8 nodes of 2 cores (16 cores)" in out
    assert corral(["sim", "--from-accounting", "--data-dir", str(tmp_path / "nowhere")]) == 1
    assert "no accounting database at" in capsys.readouterr().err
