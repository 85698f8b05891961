"""Partition, association and QOS limits: pure checks that answer with Slurm's pending reason.

Two moments:

* at submit (`check_submit`): a job that could never run under its limits — unknown
  account or QOS, a partition that does not allow them, a time limit or size over a
  per-job maximum, a submit limit already reached — is refused, in sbatch's words;
* in every pass (`LimitState.blocking`): a job whose start would exceed a running-jobs or
  TRES limit stays pending with the reason squeue shows (QOSMaxJobsPerUserLimit,
  AssocGrpGRES, …).

QOS limits are checked before association limits, and per-job limits before aggregate
ones, as Slurm's accounting policy does. Max* association limits are inherited from the
nearest account that sets them; Grp* limits cap the whole subtree of the account that sets
them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from corral.core.selection import node_gpus, shares
from corral.model.accounts import AccountTree, Association, Limits, Qos
from corral.model.cluster import Partition
from corral.model.job import Job
from corral.model.states import Reason

R = Reason
# Which reason each TRES key gives, per kind of limit.
_BY_TRES = {
    "qos_user": {"cpu": R.QOS_MAX_CPU_PER_USER, "node": R.QOS_MAX_NODE_PER_USER,
                 "mem": R.QOS_MAX_MEM_PER_USER, "gres": R.QOS_MAX_GRES_PER_USER},
    "qos_job": {"cpu": R.QOS_MAX_CPU_PER_JOB, "node": R.QOS_MAX_NODE_PER_JOB,
                "mem": R.QOS_MAX_MEM_PER_JOB, "gres": R.QOS_MAX_GRES_PER_JOB},
    "qos_grp": {"cpu": R.QOS_GRP_CPU, "node": R.QOS_GRP_NODE, "mem": R.QOS_GRP_MEM,
                "gres": R.QOS_GRP_GRES},
    "assoc_job": {"cpu": R.ASSOC_MAX_CPU_PER_JOB, "node": R.ASSOC_MAX_NODE_PER_JOB,
                  "mem": R.ASSOC_MAX_MEM_PER_JOB, "gres": R.ASSOC_MAX_GRES_PER_JOB},
    "assoc_grp": {"cpu": R.ASSOC_GRP_CPU, "node": R.ASSOC_GRP_NODE, "mem": R.ASSOC_GRP_MEM,
                  "gres": R.ASSOC_GRP_GRES},
}
# Every reason a limit can give (what `corral why` calls "held back by a limit").
LIMIT_REASONS = frozenset({r for table in _BY_TRES.values() for r in table.values()} | {
    R.ASSOC_MAX_JOBS, R.ASSOC_MAX_SUBMIT_JOBS, R.ASSOC_MAX_WALL, R.ASSOC_GRP_JOBS,
    R.QOS_MAX_JOBS_PER_USER, R.QOS_MAX_SUBMIT_JOBS_PER_USER, R.QOS_MAX_WALL, R.QOS_GRP_JOBS})
POLICY_VIOLATION = ("Job violates accounting/QOS policy "
                    "(job submit limit, user's size and/or time limits)")


def _reason(kind: str, tres: str) -> Reason | None:
    base = "gres" if tres.startswith("gres/") else tres
    return _BY_TRES[kind].get(base)


def job_tres(job: Job, gpu_type_of: Mapping[str, str | None] | None = None) -> dict[str, int]:
    """The TRES a job uses (running: its allocation) or asks for (pending)."""
    if job.allocation:
        cpus = sum(a.cpus for a in job.allocation.values())
        mem = sum(a.memory for a in job.allocation.values())
        out = {"cpu": cpus, "mem": mem, "node": len(job.allocation)}
        gpus = 0
        for name, a in job.allocation.items():
            if a.gpu_indices:
                gpus += len(a.gpu_indices)
                kind = gpu_type_of.get(name) if gpu_type_of else job.spec.gpu_type
                if kind:
                    key = f"gres/gpu:{kind}"
                    out[key] = out.get(key, 0) + len(a.gpu_indices)
        if gpus:
            out["gres/gpu"] = gpus
        return out
    spec = job.spec
    nodes = spec.num_nodes
    uneven = shares(spec, job.mem_per_node) if nodes > 1 else None
    if uneven is None:
        cpus, mem, gpus = (spec.cpus_per_node() * nodes, job.mem_per_node * nodes,
                           node_gpus(spec) * nodes)
    else:  # what the nodes will hold between them (-n 3 on 2-CPU nodes: 3 CPUs, not 4)
        cpus = sum(need.cpus * n for need, n in uneven)
        mem = sum(need.memory * n for need, n in uneven)
        gpus = sum(need.gpus * n for need, n in uneven)
    out = {"cpu": cpus, "mem": mem, "node": nodes}
    if gpus:
        out["gres/gpu"] = gpus
        if spec.gpu_type:
            out[f"gres/gpu:{spec.gpu_type}"] = gpus
    return out


@dataclass(frozen=True, slots=True)
class Blocked:
    """Why limits keep a job pending: the reason, and the words `corral why` uses."""

    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class Effective:
    """The limits that apply to one (association, QOS) pair, resolved through the tree."""

    assoc: Association
    qos: Qos
    max_jobs: int | None
    max_submit_jobs: int | None
    max_wall: int | None
    max_tres_per_job: Mapping[str, int]
    grp: tuple[tuple[str, Limits], ...]  # (account or "account/user", limits) with Grp* set
    # Counters some limit reads: (scope, count running jobs, count submitted, TRES keys).
    tracked: tuple[tuple[tuple[str, ...], bool, bool, frozenset[str]], ...] = ()

    unlimited: bool = False  # no limit at all applies: the pass skips the checks


def effective(tree: AccountTree, assoc: Association, qos: Qos) -> Effective:
    chain = [assoc.limits] + [tree.accounts[a].limits for a in tree.ancestors(assoc.account)]

    def first(attr: str) -> int | None:
        for limits in chain:
            value = getattr(limits, attr)
            if value is not None:
                return value  # type: ignore[no-any-return]
        return None

    per_job: dict[str, int] = {}
    for limits in reversed(chain):
        per_job.update(limits.max_tres_per_job)
    grp: list[tuple[str, Limits]] = []
    if (assoc.limits.grp_jobs is not None or assoc.limits.grp_tres
            or assoc.limits.grp_submit_jobs is not None):
        grp.append((f"{assoc.account}/{assoc.user}", assoc.limits))
    for account in tree.ancestors(assoc.account):
        limits = tree.accounts[account].limits
        if limits.grp_jobs is not None or limits.grp_tres or limits.grp_submit_jobs is not None:
            grp.append((account, limits))
    max_jobs, max_submit = first("max_jobs"), first("max_submit_jobs")
    own = assoc.limits
    tracked = [
        (("assoc", assoc.account, assoc.user), max_jobs is not None or own.grp_jobs is not None,
         max_submit is not None or own.grp_submit_jobs is not None, frozenset(own.grp_tres)),
        (("qos_user", qos.name, assoc.user), qos.max_jobs_per_user is not None,
         qos.max_submit_jobs_per_user is not None, frozenset(qos.max_tres_per_user)),
        (("qos", qos.name), qos.grp_jobs is not None, False, frozenset(qos.grp_tres)),
    ]
    tracked.extend((("account", name), limits.grp_jobs is not None,
                    limits.grp_submit_jobs is not None, frozenset(limits.grp_tres))
                   for name, limits in grp if "/" not in name)
    q = qos
    unlimited = (max_jobs is None and max_submit is None and first("max_wall") is None
                 and not per_job and not grp and q.max_jobs_per_user is None
                 and q.max_submit_jobs_per_user is None and not q.max_tres_per_user
                 and not q.max_tres_per_job and q.max_wall is None and q.grp_jobs is None
                 and not q.grp_tres)
    return Effective(assoc, qos, max_jobs, max_submit, first("max_wall"), per_job, tuple(grp),
                     tuple(t for t in tracked if t[1] or t[2] or t[3]), unlimited)


def static_block(job: Job, eff: Effective, tres: Mapping[str, int]) -> Blocked | None:
    """Limits a job breaks whatever else runs: time limit and size over per-job maxima."""
    q = eff.qos
    limit = job.time_limit
    if q.max_wall is not None and (limit is None or limit > q.max_wall):
        return Blocked(R.QOS_MAX_WALL, f"QOS {q.name} allows at most {q.max_wall} minutes (MaxWall)")
    for key, cap in q.max_tres_per_job.items():
        reason = _reason("qos_job", key)
        if reason and tres.get(key, 0) > cap:
            return Blocked(reason, f"QOS {q.name} allows at most {key}={cap} per job (MaxTRES)")
    if eff.max_wall is not None and (limit is None or limit > eff.max_wall):
        return Blocked(R.ASSOC_MAX_WALL, f"account {eff.assoc.account} allows at most "
                                         f"{eff.max_wall} minutes (MaxWall)")
    for key, cap in eff.max_tres_per_job.items():
        reason = _reason("assoc_job", key)
        if reason and tres.get(key, 0) > cap:
            return Blocked(reason, f"account {eff.assoc.account} allows at most {key}={cap} "
                                   "per job (MaxTRES)")
    return None


class LimitState:
    """Running and submitted counts per user, account subtree and QOS, for one pass.

    Mutable: `started` adds a job the pass starts, `ended` takes one away.
    """

    def __init__(self, tree: AccountTree) -> None:
        self.tree = tree
        self.jobs: Counter[tuple[str, ...]] = Counter()
        self.tres: dict[tuple[str, ...], Counter[str]] = {}
        self.submitted: Counter[tuple[str, ...]] = Counter()
        self._effective: dict[tuple[str, str, str], Effective | None] = {}
        self.gpu_type_of: Mapping[str, str | None] | None = None

    def resolve(self, job: Job) -> Effective | None:
        """The job's limits, or None when its account or QOS is not valid for it."""
        spec = job.spec
        key = (spec.user, spec.account or "", spec.qos or "")
        if key in self._effective:
            return self._effective[key]
        assoc = self.tree.association(spec.user, spec.account)
        qos = self.tree.qos_for(assoc, spec.qos) if assoc is not None else None
        found = effective(self.tree, assoc, qos) if assoc is not None and qos is not None else None
        self._effective[key] = found
        return found

    def add(self, job: Job, tres: Mapping[str, int] | None, running: bool, sign: int = 1) -> None:
        """Count a job: submitted, and running with its TRES (computed when None)."""
        eff = self.resolve(job)
        if eff is None or not eff.tracked:
            return
        for scope, jobs, submit, keys in eff.tracked:
            if submit:
                self.submitted[scope] += sign
            if running:
                if jobs:
                    self.jobs[scope] += sign
                if keys:
                    if tres is None:
                        tres = job_tres(job, self.gpu_type_of)
                    counter = self.tres.setdefault(scope, Counter())
                    for key in keys:
                        counter[key] += sign * tres.get(key, 0)

    def started(self, job: Job, tres: Mapping[str, int]) -> None:
        """A pending job (already counted as submitted) starts."""
        eff = self.resolve(job)
        if eff is None or not eff.tracked:
            return
        for scope, jobs, _, keys in eff.tracked:
            if jobs:
                self.jobs[scope] += 1
            if keys:
                counter = self.tres.setdefault(scope, Counter())
                for key in keys:
                    counter[key] += tres.get(key, 0)

    def ended(self, job: Job, tres: Mapping[str, int] | None = None) -> None:
        self.add(job, tres, True, -1)

    def _over(self, scope: tuple[str, ...], caps: Mapping[str, int], tres: Mapping[str, int],
              kind: str) -> tuple[Reason, str, int] | None:
        used = self.tres.get(scope)
        for key, cap in caps.items():
            want = tres.get(key, 0)
            # A job asking for none of a TRES is never held by that TRES's limit.
            if want and (used[key] if used else 0) + want > cap:
                reason = _reason(kind, key)
                if reason:
                    return reason, key, cap
        return None

    def blocking(self, job: Job, eff: Effective, tres: Mapping[str, int]) -> Blocked | None:
        """The limit that running this job now would exceed, if any."""
        static = static_block(job, eff, tres)
        if static is not None:
            return static
        q, a = eff.qos, eff.assoc
        if q.grp_jobs is not None and self.jobs[("qos", q.name)] >= q.grp_jobs:
            return Blocked(R.QOS_GRP_JOBS, f"QOS {q.name} runs at most {q.grp_jobs} jobs (GrpJobs)")
        over = self._over(("qos", q.name), q.grp_tres, tres, "qos_grp")
        if over:
            return Blocked(over[0], f"QOS {q.name} is using its {over[1]}={over[2]} (GrpTRES)")
        if q.max_jobs_per_user is not None and self.jobs[("qos_user", q.name, a.user)] >= q.max_jobs_per_user:
            return Blocked(R.QOS_MAX_JOBS_PER_USER, f"QOS {q.name} runs at most "
                           f"{q.max_jobs_per_user} jobs per user (MaxJobsPerUser)")
        over = self._over(("qos_user", q.name, a.user), q.max_tres_per_user, tres, "qos_user")
        if over:
            return Blocked(over[0], f"QOS {q.name} allows {over[1]}={over[2]} per user "
                                    f"(MaxTRESPerUser) and {a.user} is using it")
        if eff.max_jobs is not None and self.jobs[("assoc", a.account, a.user)] >= eff.max_jobs:
            return Blocked(R.ASSOC_MAX_JOBS, f"{a.user} may run {eff.max_jobs} jobs at once in "
                                             f"account {a.account} (MaxJobs)")
        for name, limits in eff.grp:
            scope = (("assoc", a.account, a.user) if "/" in name else ("account", name))
            if limits.grp_jobs is not None and self.jobs[scope] >= limits.grp_jobs:
                return Blocked(R.ASSOC_GRP_JOBS, f"{name} runs at most {limits.grp_jobs} jobs "
                                                 "(GrpJobs)")
            over = self._over(scope, limits.grp_tres, tres, "assoc_grp")
            if over:
                return Blocked(over[0], f"{name} is using its {over[1]}={over[2]} (GrpTRES)")
        return None


def count(tree: AccountTree, jobs: Iterable[Job],
          gpu_type_of: Mapping[str, str | None] | None = None) -> LimitState:
    """Limit counters from the jobs that are pending (submitted) or running."""
    state = LimitState(tree)
    state.gpu_type_of = gpu_type_of
    submit_limits = _counts_submissions(tree)
    for job in jobs:
        if job.state.is_active:
            state.add(job, None, True)
        elif submit_limits and not job.state.is_terminal:
            state.add(job, None, False)
    return state


def _counts_submissions(tree: AccountTree) -> bool:
    """Does any limit count submitted (pending) jobs? If not, counting them is wasted."""
    limits = [a.limits for a in tree.accounts.values()] + [a.limits for a in tree.associations.values()]
    return (any(x.max_submit_jobs is not None or x.grp_submit_jobs is not None for x in limits)
            or any(q.max_submit_jobs_per_user is not None for q in tree.qos.values()))


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why sbatch refuses a job: the detail line and Slurm's summary error."""

    detail: str
    summary: str


def check_submit(job: Job, tree: AccountTree | None, partition: Partition,
                 counts: LimitState | None = None) -> Refusal | None:
    """Refuse what could never run: bad account/QOS, partition access, per-job limits, submit limits."""
    spec = job.spec
    assoc = tree.association(spec.user, spec.account) if tree is not None else None
    qos = tree.qos_for(assoc, spec.qos) if tree is not None and assoc is not None else None
    if tree is not None and assoc is None:
        return Refusal(f"invalid account or account/partition combination: {spec.account or ''}",
                       "Invalid account or account/partition combination specified")
    if tree is not None and qos is None:
        return Refusal(f"invalid qos specification: {spec.qos or ''}", "Invalid qos specification")
    account = assoc.account if assoc is not None else spec.account
    if partition.allow_accounts is not None and account not in partition.allow_accounts:
        return Refusal(f"Job's account not permitted to use this partition ({partition.name} "
                       f"allows {','.join(sorted(partition.allow_accounts))} not {account})",
                       "Invalid account or account/partition combination specified")
    qos_name = qos.name if qos is not None else spec.qos
    if partition.allow_qos is not None and qos_name not in partition.allow_qos:
        return Refusal(f"Job's QOS not permitted to use this partition ({partition.name} "
                       f"allows {','.join(sorted(partition.allow_qos))} not {qos_name})",
                       "Invalid qos specification")
    if tree is None or assoc is None or qos is None:
        return None
    eff = effective(tree, assoc, qos)
    blocked = static_block(job, eff, job_tres(job))
    if blocked is not None:
        return Refusal(blocked.detail, POLICY_VIOLATION)
    tres = job_tres(job)
    for what, caps in ((f"QOS {qos.name}", qos.max_tres_per_user), (f"QOS {qos.name}", qos.grp_tres),
                       *((name, limits.grp_tres) for name, limits in eff.grp)):
        for key, cap in caps.items():
            if tres.get(key, 0) > cap:
                return Refusal(f"{what} allows at most {key}={cap} in all, less than the job asks",
                               POLICY_VIOLATION)
    if counts is not None:
        if (qos.max_submit_jobs_per_user is not None
                and counts.submitted[("qos_user", qos.name, assoc.user)] >= qos.max_submit_jobs_per_user):
            return Refusal(f"QOS {qos.name} allows {qos.max_submit_jobs_per_user} submitted jobs "
                           "per user (MaxSubmitJobsPerUser)", POLICY_VIOLATION)
        if (eff.max_submit_jobs is not None
                and counts.submitted[("assoc", assoc.account, assoc.user)] >= eff.max_submit_jobs):
            return Refusal(f"{assoc.user} may have {eff.max_submit_jobs} jobs submitted in account "
                           f"{assoc.account} (MaxSubmitJobs)", POLICY_VIOLATION)
        for name, limits in eff.grp:
            if (limits.grp_submit_jobs is not None and "/" not in name
                    and counts.submitted[("account", name)] >= limits.grp_submit_jobs):
                return Refusal(f"account {name} allows {limits.grp_submit_jobs} submitted jobs "
                               "(GrpSubmitJobs)", POLICY_VIOLATION)
    return None
