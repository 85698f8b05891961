"""What a replay runs: the machine (nodes, partitions) and the job requests, from a trace.

A trace job of P processors on nodes of C cores asks for ceil(P / C) nodes and P tasks, so it
gets whole nodes where P is a multiple of C and shares a node otherwise. Its requested time,
rounded up to whole minutes as Slurm keeps limits, is its time limit; where the trace has none,
the partition's default (or maximum) applies, and failing both the job's own run time does (a
perfect estimate; the summary counts these jobs). Memory is not modelled: SWF rarely has it.
Users and groups become users and accounts; for fair-share, `flat_tree` files every user
under each group it submitted from, one share each, as `sacctmgr` would be set up by hand.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from corral.core.cycle import run_cycle
from corral.core.decisions import DEFAULT_CONTEXT, SchedulingContext
from corral.core.selection import per_node_request
from corral.model.accounts import ROOT, Account, AccountTree, Association, User
from corral.model.cluster import NodeResources, Partition
from corral.model.job import Job, JobSpec
from corral.model.states import JobState, Reason
from corral.sim.swf import Trace, TraceJob

DEFAULT_PARTITION = Partition("main", all_nodes=True, default=True)


@dataclass(frozen=True, slots=True)
class Request:
    """One job to replay: what the scheduler sees, and how long the job really ran."""

    job: Job
    run_s: int
    origin: int
    procs: int
    user: str
    account: str


@dataclass(frozen=True, slots=True)
class Machine:
    nodes: tuple[NodeResources, ...]
    partitions: Mapping[str, Partition]

    @property
    def total_cpus(self) -> int:
        return sum(n.cpus for n in self.nodes)


@dataclass(slots=True)
class Workload:
    machine: Machine
    requests: list[Request]
    source: str
    skipped: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    # The account tree the jobs run under (limits, QOS, fair-share); None: no accounting.
    accounts: AccountTree | None = None
    # The first trace line skipped for each reason, so that a user can look at one.
    skipped_at: dict[str, int] = field(default_factory=dict)


def make_nodes(count: int, cpus: int, memory: int = 0, gpus: int = 0,
               names: Sequence[str] = (),
               features: Mapping[str, frozenset[str]] | None = None) -> tuple[NodeResources, ...]:
    """`names` first (nodes a cluster config names), then node0001… up to `count`;
    `features` as cluster.toml's [[nodes]] give them."""
    chosen = list(dict.fromkeys(names))
    width = max(4, len(str(count)))
    serial = 0
    taken = set(chosen)
    while len(chosen) < count:
        serial += 1
        name = f"node{serial:0{width}d}"
        if name not in taken:
            chosen.append(name)
    features = features or {}
    return tuple(NodeResources(n, cpus, memory, gpus, None, cpus, memory, tuple(range(gpus)),
                               features=features.get(n, frozenset()))
                 for n in chosen)


def machine_shape(trace: Trace, nodes: int | None, cpus_per_node: int | None,
                  notes: list[str]) -> tuple[int, int]:
    """(nodes, cores per node) from the command line, else from the header's MaxProcs/MaxNodes."""
    max_procs = trace.header_int("MaxProcs")
    max_nodes = trace.header_int("MaxNodes")
    if max_procs is None:
        max_procs = max((j.procs for j in trace.jobs), default=1)
        if nodes is None or cpus_per_node is None:
            notes.append(f"no MaxProcs in the header: the machine has {max_procs} processors, "
                         "the largest job's count")
    if cpus_per_node is None:
        if nodes is not None:
            cpus_per_node = max(1, math.ceil(max_procs / nodes))
        elif max_nodes and max_procs % max_nodes == 0:
            cpus_per_node = max_procs // max_nodes
        else:
            cpus_per_node = 1
    if nodes is None:
        nodes = max(1, math.ceil(max_procs / cpus_per_node))
    return nodes, cpus_per_node


def default_partition(partitions: Mapping[str, Partition]) -> Partition:
    return next((p for p in partitions.values() if p.default), next(iter(partitions.values())))


def make_job(job_id: int, submit: float, partition: Partition, *, nodes: int, tasks: int,
             time_limit: int | None, user: str, account: str, uid: int = 0, gid: int = 0,
             mem_per_node: int = 0) -> Job:
    spec = JobSpec(name=f"sim{job_id}", uid=uid, gid=gid, user=user, group=account, work_dir="/",
                   partition=partition.name, account=account, num_nodes=nodes, num_tasks=tasks,
                   time_limit=time_limit, mem_per_node=mem_per_node)
    return Job(job_id=job_id, spec=spec, state=JobState.PENDING, submit_time=float(submit),
               partition=partition.name, mem_per_node=mem_per_node, time_limit=time_limit,
               name=spec.name, eligible_time=float(submit))


class Feasibility:
    """Whether a job could ever start on the idle machine, asked of the core itself (a job it
    never starts would wait for ever); answers are cached per request shape."""

    def __init__(self, machine: Machine, context: SchedulingContext = DEFAULT_CONTEXT) -> None:
        self.machine = machine
        self.context = context
        self.view = {n.name: n for n in machine.nodes}
        self.cache: dict[tuple[object, ...], Reason | None] = {}

    def never_starts(self, job: Job) -> Reason | None:
        partition = self.machine.partitions.get(job.partition)
        over_time = (partition is not None and partition.max_time is not None
                     and (job.time_limit is None or job.time_limit > partition.max_time))
        need = per_node_request(job.spec, job.mem_per_node)
        key: tuple[object, ...] = (job.partition, over_time, job.spec.num_nodes, need,
                                   job.spec.req_nodes, job.spec.exc_nodes, job.spec.constraint)
        if self.context.accounts is not None:
            # Per-job limits (MaxWall, MaxTRES) and the association itself decide too.
            key += (job.spec.account, job.spec.user, job.spec.qos, job.time_limit)
        if key not in self.cache:
            result = run_cycle([job], [], self.view, self.machine.partitions, job.submit_time,
                               self.context)
            self.cache[key] = None if result.starts else result.reasons.get(job.job_id,
                                                                             Reason.RESOURCES)
        return self.cache[key]


def _name(number: int | None, names: Mapping[int, str], prefix: str) -> str | None:
    if number is None:
        return None
    return names.get(number) or f"{prefix}{number}"


def _user(job: TraceJob) -> str:
    return f"user{job.user}" if job.user is not None else "unknown"


def _account(job: TraceJob) -> str:
    return f"group{job.group}" if job.group is not None else "unknown"


def _time_limit(job: TraceJob, partition: Partition) -> tuple[int, bool]:
    """Minutes, and whether they came from the run time for want of anything else."""
    if job.requested_time is not None:
        return max(1, math.ceil(job.requested_time / 60)), False
    fallback = partition.default_time if partition.default_time is not None else partition.max_time
    if fallback is not None:
        return fallback, False
    return max(1, math.ceil(job.run / 60)), True


def flat_tree(pairs: Iterable[tuple[str, str]]) -> AccountTree:
    """Each (account, user) pair an association with one share, every account under root;
    a user's default account is the first one seen."""
    accounts = {ROOT: Account(ROOT, None)}
    associations: dict[tuple[str, str], Association] = {}
    users: dict[str, User] = {}
    for account, user in pairs:
        accounts.setdefault(account, Account(account))
        associations.setdefault((account, user), Association(user, account))
        users.setdefault(user, User(user, account))
    return AccountTree(accounts, associations, users)


def from_trace(trace: Trace, *, nodes: int | None = None, cpus_per_node: int | None = None,
               partitions: Sequence[Partition] = (), source: str = "trace",
               features: Mapping[str, frozenset[str]] | None = None,
               accounts: bool = False) -> Workload:
    """The trace's jobs on its machine; `accounts`: under a `flat_tree` of its groups and
    users, for fair-share."""
    notes: list[str] = []
    count, cpn = machine_shape(trace, nodes, cpus_per_node, notes)
    parts = {p.name: p for p in partitions} or {DEFAULT_PARTITION.name: DEFAULT_PARTITION}
    named = [n for p in parts.values() for n in p.nodes]
    machine = Machine(make_nodes(count, cpn, names=named, features=features), parts)
    fallback = default_partition(parts)
    tree = flat_tree((_account(j), _user(j)) for j in trace.jobs) if accounts else None
    feasible = Feasibility(machine, SchedulingContext(accounts=tree))
    workload = Workload(machine, [], source, Counter(trace.skipped), notes, tree,
                        dict(trace.first_skipped_line))
    from_run = 0
    for job in trace.jobs:
        wanted = _name(job.partition, trace.partitions, "p") or _name(job.queue, trace.queues, "q")
        partition = parts.get(wanted or "", fallback)
        limit, guessed = _time_limit(job, partition)
        user, account = _user(job), _account(job)
        job_id = len(workload.requests) + 1
        sim_job = make_job(job_id, job.submit, partition, nodes=math.ceil(job.procs / cpn),
                           tasks=job.procs, time_limit=limit, user=user, account=account,
                           uid=job.user or 0, gid=job.group or 0)
        reason = feasible.never_starts(sim_job)
        if reason is not None:
            workload.skipped[f"never starts on this machine ({reason.value})"] += 1
            continue
        from_run += guessed
        workload.requests.append(Request(sim_job, job.run, job.number, job.procs, user, account))
    if from_run:
        notes.append(f"{from_run} jobs have no requested time: their limit is their run time "
                     "(a perfect estimate, which flatters backfill)")
    return workload
