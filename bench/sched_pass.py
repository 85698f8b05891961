"""How long one scheduling pass takes on a large synthetic cluster, and how much memory.

    .venv/bin/python bench/sched_pass.py                  # 1k, 10k, 100k pending on 10k nodes
    .venv/bin/python bench/sched_pass.py --jobs 100000 --repeat 5 --profile

The cluster: 10,000 nodes in four shapes — 6,000 CPU nodes (64 cores, 256 GB), 2,000 large
CPU nodes (128 cores, 1 TB), 1,500 nodes with 8 A100 and 500 with 8 H100 — in partitions
cpu, gpu and debug, about 95% busy with running jobs. The queue: small and whole-node CPU
jobs, multi-node gangs, single- and multi-GPU jobs (some typed), arrays of identical tasks,
--constraint and --exclusive, 500 users in 50 accounts with fair-share usage, three QOS.
Priority is multifactor, backfill EASY (or --backfill conservative).

Measured (median of --repeat runs): a full pass (priority and backfill over every pending job, estimates for all),
cold (a new Scheduler) and warm (the same Scheduler three more times, as the controller's
periodic pass runs); the peak memory
the pass allocates (tracemalloc, separate run), per pending job. With --gc-freeze the
workload is moved out of the collector's sight first (gc.freeze()), as the controller should
after loading its jobs: with 100k jobs in memory, collections triggered during the pass
otherwise re-scan all of them.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import random
import statistics
import sys
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from corral.core.decisions import SchedulingContext, SchedulingPolicy  # noqa: E402
from corral.core.priority import MULTIFACTOR, PriorityConfig  # noqa: E402
from corral.core.scheduler import Scheduler  # noqa: E402
from corral.model.accounts import (  # noqa: E402
    Account,
    AccountTree,
    Association,
    Limits,
    Qos,
    User,
)
from corral.model.cluster import NodeResources, Partition  # noqa: E402
from corral.model.job import Job, JobSpec, NodeAllocation  # noqa: E402
from corral.model.states import JobState  # noqa: E402

SHAPES = [  # count, prefix, cpus, memory MB, gpus, gpu type, features
    (6000, "c", 64, 256_000, 0, None, frozenset({"cpu", "icelake"})),
    (2000, "m", 128, 1_000_000, 0, None, frozenset({"cpu", "sapphire", "bigmem"})),
    (1500, "g", 64, 512_000, 8, "a100", frozenset({"gpu", "a100"})),
    (500, "h", 96, 1_000_000, 8, "h100", frozenset({"gpu", "h100", "ib"})),
]
LIMITS = [10, 30, 60, 240, 720, 1440, 2880]


def cluster() -> tuple[dict[str, NodeResources], dict[str, Partition]]:
    nodes: dict[str, NodeResources] = {}
    for count, prefix, cpus, mem, gpus, kind, features in SHAPES:
        for i in range(count):
            name = f"{prefix}{i:05d}"
            nodes[name] = NodeResources(name, cpus, mem, gpus, kind, cpus, mem,
                                        tuple(range(gpus)), features=features)
    cpu = tuple(n for n in nodes if n[0] in "cm")
    gpu = tuple(n for n in nodes if n[0] in "gh")
    parts = {
        "cpu": Partition("cpu", cpu, default=True, max_time=2880, priority_job_factor=1),
        "gpu": Partition("gpu", gpu, max_time=2880, priority_job_factor=2),
        "debug": Partition("debug", cpu[:200], max_time=30, priority_job_factor=4,
                           priority_tier=2),
    }
    return nodes, parts


def accounts(rng: random.Random) -> tuple[AccountTree, dict[tuple[str, str], float], list[tuple[str, str]]]:
    accts = {"root": Account("root", None)}
    for d in range(5):
        accts[f"div{d}"] = Account(f"div{d}", "root", shares=rng.choice([10, 20, 40]))
        for g in range(10):
            accts[f"grp{d}{g}"] = Account(f"grp{d}{g}", f"div{d}", shares=rng.choice([1, 2, 5]),
                                          limits=Limits(grp_tres={"gres/gpu": 64}) if g == 0 else Limits())
    assocs, users, usage = {}, {}, {}
    pairs = []
    for u in range(500):
        name = f"user{u:03d}"
        acct = f"grp{u % 5}{(u // 5) % 10}"
        assocs[(acct, name)] = Association(name, acct, shares=1)
        users[name] = User(name, acct)
        usage[(acct, name)] = rng.expovariate(1 / 3e6)
        pairs.append((acct, name))
    qos = {
        "normal": Qos("normal", priority=10),
        "high": Qos("high", priority=100, max_jobs_per_user=50, preempt=frozenset({"low"})),
        "low": Qos("low", priority=0, usage_factor=0.5),
    }
    return AccountTree(accts, assocs, users, qos), usage, pairs


def spec_for(rng: random.Random, user: tuple[str, str]) -> tuple[JobSpec, str, int, int]:
    """One request: (spec, partition, memory per node, time limit)."""
    acct, name = user
    roll = rng.random()
    qos = rng.choices(["normal", "high", "low"], [85, 5, 10])[0]
    limit = rng.choice(LIMITS)
    base = dict(name="job", uid=1000, gid=1000, user=name, group="users", work_dir="/home",
                account=acct, qos=qos, time_limit=limit)
    if roll < 0.55:  # small CPU job
        cpus = rng.choice([1, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48])
        constraint = rng.choice([None] * 8 + ["icelake", "[icelake|sapphire]"])
        spec = JobSpec(**base, cpus_per_task=cpus, constraint=constraint)
        return spec, "cpu", cpus * rng.choice([1000, 2000, 3000, 4000, 6000, 8000, 16000]), limit
    if roll < 0.65:  # whole nodes, gangs
        nodes = rng.choice([1, 2, 4, 8, 16, 64])
        spec = JobSpec(**base, num_nodes=nodes, num_tasks=nodes * 64, exclusive=rng.random() < 0.5)
        return spec, "cpu", 200_000, limit
    if roll < 0.70:  # debug
        limit = rng.choice([10, 30])
        spec = JobSpec(**{**base, "time_limit": limit}, cpus_per_task=rng.choice([1, 4]))
        return spec, "debug", 4000, limit
    if roll < 0.93:  # GPU jobs on one node
        gpus = rng.choice([1, 1, 2, 4, 8])
        kind = rng.choice([None, None, "a100", "h100"])
        spec = JobSpec(**base, cpus_per_task=rng.choice([4, 8, 12]) * gpus, gpus_per_node=gpus,
                       gpu_type=kind)
        return spec, "gpu", rng.choice([32_000, 64_000, 96_000]) * gpus, limit
    nodes = rng.choice([2, 4, 8, 16])  # multi-node GPU gangs
    spec = JobSpec(**base, num_nodes=nodes, num_tasks=nodes * 8, cpus_per_task=8, gpus_per_node=8,
                   constraint=rng.choice([None, "ib"]))
    return spec, "gpu", 400_000, limit


def workload(pending_count: int, seed: int = 1) -> tuple[list[Job], list[Job], dict[str, NodeResources],
                                                         dict[str, Partition], AccountTree,
                                                         dict[tuple[str, str], float], float]:
    rng = random.Random(seed)
    nodes, parts = cluster()
    tree, usage, pairs = accounts(rng)
    now = 1_000_000.0
    jid = 1
    # Running jobs fill the machine to about 95%.
    free = {n: [r.cpus, r.memory, list(r.free_gpus)] for n, r in nodes.items()}
    running: list[Job] = []
    names = list(nodes)
    rng.shuffle(names)
    for name in names:
        if rng.random() < 0.05:
            continue
        node = nodes[name]
        while True:
            f = free[name]
            gpus = min(len(f[2]), rng.choice([1, 2, 4, 8])) if node.gpus else 0
            cpus = min(f[0], rng.choice([4, 8, 16, 32, 64]))
            mem = min(f[1], cpus * 4000)
            if cpus <= 0 or (node.gpus and gpus == 0 and f[0] < 16):
                break
            taken = tuple(f[2][:gpus])
            f[0] -= cpus
            f[1] -= mem
            f[2] = f[2][gpus:]
            spec = JobSpec(name="run", uid=1000, gid=1000, user=pairs[jid % 500][1], group="users",
                           work_dir="/", account=pairs[jid % 500][0], qos=rng.choice(["normal", "low"]),
                           cpus_per_task=cpus, gpus_per_node=gpus)
            limit = rng.choice(LIMITS)
            start = now - rng.uniform(0, limit * 60)
            running.append(Job(jid, spec, JobState.RUNNING, start - 100, "gpu" if node.gpus else "cpu",
                               mem, limit, allocation={name: NodeAllocation(cpus, mem, taken)},
                               start_time=start))
            jid += 1
            if f[0] < 8 or rng.random() < 0.05:
                break
    view = {n: replace(r, free_cpus=free[n][0], free_memory=free[n][1], free_gpus=tuple(free[n][2]),
                       idle=free[n][0] == r.cpus)
            for n, r in nodes.items()}
    pending: list[Job] = []
    while len(pending) < pending_count:
        user = pairs[int(500 * rng.random() ** 2)]  # a few heavy users, a long tail
        spec, part, mem, limit = spec_for(rng, user)
        tasks = rng.choice([1] * 6 + [10, 100, 500]) if rng.random() < 0.3 else 1
        submit = now - rng.uniform(0, 3 * 86400)
        first = jid
        for t in range(min(tasks, pending_count - len(pending))):
            pending.append(Job(jid, spec, JobState.PENDING, submit, part, mem, limit,
                               eligible_time=submit, array_job_id=first if tasks > 1 else None,
                               array_task_id=t if tasks > 1 else None))
            jid += 1
    return pending, running, view, parts, tree, usage, now


def context(tree: AccountTree, usage: dict[tuple[str, str], float], backfill: str) -> SchedulingContext:
    prio = PriorityConfig(type=MULTIFACTOR, weight_age=1000, weight_fairshare=10000,
                          weight_job_size=1000, weight_partition=1000, weight_qos=2000)
    return SchedulingContext(SchedulingPolicy(backfill=backfill, priority=prio), tree, usage)


def timed(fn, *args):  # type: ignore[no-untyped-def]
    """(wall seconds, CPU seconds of this process, result)."""
    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, time.process_time() - c0, out


def measure(jobs: int, repeat: int, backfill: str, profile: bool,
            freeze: bool) -> dict[str, float]:
    pending, running, nodes, parts, tree, usage, now = workload(jobs)
    ctx = context(tree, usage, backfill)
    if freeze:
        # What a long-running controller does once its jobs are loaded: the collector then
        # stops re-scanning them on every collection.
        gc.collect()
        gc.freeze()
    cold, warm = [], []
    cold_cpu, warm_cpu = [], []
    result = None
    for _ in range(repeat):
        sched = Scheduler(parts, ctx)
        t, c, result = timed(sched.full_pass, pending, running, nodes, now)
        cold.append(t)
        cold_cpu.append(c)
        for k in range(3):  # the periodic pass, again and again on the same queue
            t, c, result = timed(sched.full_pass, pending, running, nodes, now + 1 + k)
            warm.append(t)
            warm_cpu.append(c)
    if profile:
        sched = Scheduler(parts, ctx)
        sched.full_pass(pending, running, nodes, now)
        cProfile.runctx("sched.full_pass(pending, running, nodes, now + 1)", globals(), locals(),
                        "/tmp/sched_pass.prof")
        pstats.Stats("/tmp/sched_pass.prof").sort_stats("cumulative").print_stats(25)
    sched = Scheduler(parts, ctx)
    gc.collect()
    tracemalloc.start()
    sched.full_pass(pending, running, nodes, now)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    if freeze:
        gc.unfreeze()
    assert result is not None
    return {"jobs": jobs, "running": len(running), "cold": statistics.median(cold),
            "warm": statistics.median(warm), "cold_cpu": statistics.median(cold_cpu),
            "warm_cpu": statistics.median(warm_cpu), "peak_mb": peak / 2**20,
            "bytes_per_job": peak / jobs, "started": result.stats.started,
            "estimated": result.stats.estimated, "tried": result.stats.placements_tried,
            "skipped": result.stats.placements_skipped}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, action="append")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backfill", default="easy")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() after building the workload, as a controller would")
    args = parser.parse_args()
    print(f"{'pending':>8} {'running':>8} {'cold s':>7} {'cpu':>6} {'warm s':>7} {'cpu':>6} "
          f"{'peak MB':>8} {'B/job':>7} {'started':>8} "
          f"{'tried':>7} {'skipped':>8}")
    for jobs in args.jobs or [1000, 10_000, 100_000]:
        m = measure(jobs, args.repeat, args.backfill, args.profile, args.gc_freeze)
        print(f"{m['jobs']:>8} {m['running']:>8} {m['cold']:>7.3f} {m['cold_cpu']:>6.3f} "
              f"{m['warm']:>7.3f} {m['warm_cpu']:>6.3f} {m['peak_mb']:>8.1f} "
              f"{m['bytes_per_job']:>7.0f} {m['started']:>8} {m['tried']:>7} {m['skipped']:>8}",
              flush=True)


if __name__ == "__main__":
    main()
