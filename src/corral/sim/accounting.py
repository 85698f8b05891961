"""What-if from history: the cluster's own finished jobs as a workload.

Each job that ran is submitted again at its submit (or --begin) time, with its own request
(nodes, cores, memory, GPUs, limit, partition), and runs as long as it ran then. The machine
is the nodes the controller knows, or a made-up one (--nodes, --cpus-per-node); partitions
come from the cluster config given, so an admin can try another layout, size or policy
before changing production. The jobs run under the cluster's account tree as saved now
(associations, QOS, limits, shares), as the controller runs them when it enforces
associations; fair-share usage starts from none. Dependencies between jobs are not replayed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from corral.core.decisions import SchedulingContext
from corral.model.account_codec import tree_from_dict
from corral.model.accounts import AccountTree
from corral.model.cluster import NodeResources, Partition
from corral.model.job import Job
from corral.model.states import JobState, Reason
from corral.sim.workload import (
    DEFAULT_PARTITION,
    Feasibility,
    Machine,
    Request,
    Workload,
    default_partition,
    make_nodes,
)

if TYPE_CHECKING:
    from corral.store.store import Store


class AccountingError(Exception):
    pass


def _open(url: str | None, data_dir: str | None) -> Store:
    from corral.store.private import private_dir
    from corral.store.store import Store, sqlite_url

    if url is None:
        if data_dir is None:
            raise AccountingError("no accounting database: give --db URL or --data-dir")
        path = private_dir(Path(data_dir)) / "corral.db"
        if not path.exists():
            raise AccountingError(f"no accounting database at {path}")
        url = sqlite_url(path.parent)
    elif url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        # Opening would create an empty database; a what-if only reads.
        raise AccountingError(f"no accounting database at {url.removeprefix('sqlite:///')}")
    try:
        return Store.open(url)
    except Exception as error:  # any driver error means a wrong URL or an unreachable server
        raise AccountingError(f"cannot open the accounting database: {error}") from None


def _recorded_nodes(records: dict[str, dict[str, object]],
                    features: Mapping[str, frozenset[str]]) -> tuple[NodeResources, ...]:
    nodes = []
    for name, r in sorted(records.items()):
        cpus, memory, gpus = int(r["cpus"]), int(r["memory"]), int(r.get("gpus") or 0)  # type: ignore[call-overload]
        nodes.append(NodeResources(name, cpus, memory, gpus, r.get("gpu_type"),  # type: ignore[arg-type]
                                   cpus, memory, tuple(range(gpus)),
                                   features=features.get(name, frozenset())))
    return tuple(nodes)


def _as_pending(job: Job, partition: str, arrival: int) -> Job:
    return replace(job, state=JobState.PENDING, reason=Reason.NONE, partition=partition,
                   submit_time=float(arrival), eligible_time=float(arrival), held=False,
                   attempt=0, start_time=None, end_time=None, allocation={}, launched=False,
                   exit_code=0, exit_signal=0, batch_step=None, cancelled_by=None,
                   requeue_requested=False, estimated_start=None, steps=(), dependency=None)


def from_accounting(url: str | None, data_dir: str | None, *,
                    partitions: Sequence[Partition] = (), start: float | None = None,
                    end: float | None = None, nodes: int | None = None,
                    cpus_per_node: int | None = None, memory_per_node: int | None = None,
                    max_jobs: int | None = None,
                    features: Mapping[str, frozenset[str]] | None = None,
                    accounts: bool = True) -> Workload:
    """`accounts`: run the jobs under the saved account tree (the controller's
    enforce_associations), else without accounting."""
    store = _open(url, data_dir)
    try:
        history = store.history(start=start, end=end)
        recorded = store.load_nodes()
        saved_tree = store.load_accounts() if accounts else None
    finally:
        store.close()
    features = features or {}
    notes: list[str] = []
    tree: AccountTree | None = None
    if saved_tree is not None:
        try:
            tree = tree_from_dict(saved_tree)
        except ValueError as error:
            raise AccountingError(f"the saved account tree is unreadable: {error}") from None
    if nodes is not None or cpus_per_node is not None or not recorded:
        known = _recorded_nodes(recorded, features)
        count = nodes or len(known) or 1
        cpus = cpus_per_node or (known[0].cpus if known else 1)
        memory = memory_per_node or (max(n.memory for n in known) if known else 0)
        machine_nodes = make_nodes(count, cpus, memory,
                                   names=[n for p in partitions for n in p.nodes],
                                   features=features)
    else:
        machine_nodes = _recorded_nodes(recorded, features)
    parts = {p.name: p for p in partitions} or {DEFAULT_PARTITION.name: DEFAULT_PARTITION}
    machine = Machine(machine_nodes, parts)
    fallback = default_partition(parts)
    feasible = Feasibility(machine, SchedulingContext(accounts=tree))
    skipped: Counter[str] = Counter()
    requests: list[Request] = []
    moved = 0
    for job in history:
        if job.start_time is None:
            skipped["never started (cancelled or failed while pending)"] += 1
            continue
        if job.end_time is None or not job.state.is_terminal:
            skipped["still running"] += 1
            continue
        partition = job.partition if job.partition in parts else fallback.name
        moved += partition != job.partition
        arrival = round(max(job.submit_time, job.spec.begin_time or 0.0))
        pending = _as_pending(job, partition, arrival)
        reason = feasible.never_starts(pending)
        if reason is not None:
            skipped[f"never starts on this machine ({reason.value})"] += 1
            continue
        run = max(0, round(job.end_time - job.start_time))
        requests.append(Request(pending, run, job.job_id, job.num_cpus, job.spec.user,
                                job.spec.account or "(none)"))
    requests.sort(key=lambda r: (r.job.submit_time, r.job.job_id))
    if max_jobs is not None:
        requests = requests[:max_jobs]
    if moved:
        notes.append(f"{moved} jobs ran in partitions this configuration lacks: they are "
                     f"replayed in {fallback.name}")
    source = url or str(Path(data_dir or ".") / "private" / "corral.db")
    return Workload(machine, requests, f"accounting ({source})", skipped, notes, tree)
