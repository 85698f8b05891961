"""Job priority: Slurm's priority/basic, or priority/multifactor with its weights and factors.

Multifactor, as Slurm computes it (plugins/priority/multifactor):

    priority = W_age·age + W_fs·fairshare + W_size·jobsize + W_part·partition + W_qos·qos − nice

summed in that order in double precision, raised to 1 when below, capped at 2³²−1 and
truncated to an integer. Each factor is 0..1:

* age: time since the job became eligible (its accrue time) over PriorityMaxAge, capped at 1;
* fairshare: the association's factor from core.fairshare (Fair Tree or classic);
* jobsize: (nodes / cluster nodes + CPUs / cluster CPUs) / 2, or with PriorityFavorSmall
  ((N − nodes) / N + (C − CPUs) / C) / 2;
* partition: the partition's PriorityJobFactor over the largest one;
* qos: the QOS's Priority over the largest QOS priority.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from corral.core.fairshare import FAIR_TREE, fairshare_factors
from corral.model.accounts import AccountTree, AssocKey
from corral.model.cluster import NodeResources, Partition
from corral.model.job import Job

BASIC = "basic"
MULTIFACTOR = "multifactor"
# Slurm's priority/basic: the first job gets 0xFFFEFFFF - 1 and each later one a point less.
BASE_PRIORITY = 4294901759
MAX_PRIORITY = 0xFFFFFFFF
DAY = 86400


@dataclass(frozen=True, slots=True)
class PriorityConfig:
    """slurm.conf's Priority* settings (times in seconds)."""

    type: str = BASIC  # PriorityType: "basic" or "multifactor"
    weight_age: int = 0
    weight_fairshare: int = 0
    weight_job_size: int = 0
    weight_partition: int = 0
    weight_qos: int = 0
    max_age: int = 7 * DAY  # PriorityMaxAge
    decay_half_life: int = 7 * DAY  # PriorityDecayHalfLife
    favor_small: bool = False  # PriorityFavorSmall
    fairshare: str = FAIR_TREE  # PriorityFlags=FAIR_TREE (default) or classic
    dampening: float = 1.0  # FairShareDampeningFactor (classic only)


@dataclass(frozen=True, slots=True)
class PriorityFactors:
    """What `sprio -n` shows (each 0..1), plus nice and the resulting integer priority."""

    job_id: int
    age: float = 0.0
    fairshare: float = 0.0
    job_size: float = 0.0
    partition: float = 0.0
    qos: float = 0.0
    nice: int = 0
    priority: int = 1

    def weighted(self, config: PriorityConfig) -> dict[str, float]:
        """What plain `sprio` shows: each factor times its weight."""
        return {"age": self.age * config.weight_age,
                "fairshare": self.fairshare * config.weight_fairshare,
                "jobsize": self.job_size * config.weight_job_size,
                "partition": self.partition * config.weight_partition,
                "qos": self.qos * config.weight_qos}


def basic_priority(job: Job) -> int:
    return max(1, BASE_PRIORITY - job.job_id - job.nice)


def accrue_time(job: Job) -> float:
    """When the job starts gaining age: eligible (submit or requeue) or its --begin, later of."""
    since = job.eligible_time if job.eligible_time is not None else job.submit_time
    begin = job.spec.begin_time
    return since if begin is None or begin < since else begin


@dataclass(slots=True)
class PriorityCalculator:
    """Factors that do not change within one pass, prepared once; then one job at a time."""

    config: PriorityConfig
    cluster_nodes: int
    cluster_cpus: int
    partition_factor: Mapping[str, float]
    qos_factor: Mapping[str, float]
    fairshare: Mapping[AssocKey, float]
    tree: AccountTree | None = None
    _size: dict[tuple[int, int], float] = field(default_factory=dict)

    @classmethod
    def prepare(cls, config: PriorityConfig, nodes: Mapping[str, NodeResources],
                partitions: Mapping[str, Partition], tree: AccountTree | None = None,
                usage: Mapping[AssocKey, float] | None = None) -> PriorityCalculator:
        top_part = max((p.priority_job_factor for p in partitions.values()), default=0)
        part = {name: (p.priority_job_factor / top_part if top_part else 0.0)
                for name, p in partitions.items()}
        qos: dict[str, float] = {}
        fairshare: dict[AssocKey, float] = {}
        if tree is not None:
            top_qos = max((q.priority for q in tree.qos.values()), default=0)
            qos = {name: (q.priority / top_qos if top_qos and q.priority else 0.0)
                   for name, q in tree.qos.items()}
            if config.type == MULTIFACTOR and config.weight_fairshare:
                fairshare = fairshare_factors(tree, usage or {}, config.fairshare, config.dampening)
        return cls(config, len(nodes), sum(n.cpus for n in nodes.values()), part, qos,
                   fairshare, tree)

    def association(self, job: Job) -> AssocKey | None:
        if self.tree is None:
            return None
        assoc = self.tree.association(job.spec.user, job.spec.account)
        return assoc.key if assoc is not None else None

    def qos_name(self, job: Job) -> str | None:
        if self.tree is None:
            return None
        assoc = self.tree.association(job.spec.user, job.spec.account)
        if assoc is None:
            return job.spec.qos
        qos = self.tree.qos_for(assoc, job.spec.qos)
        return qos.name if qos is not None else job.spec.qos

    def job_size(self, nodes: int, cpus: int) -> float:
        key = (nodes, cpus)
        cached = self._size.get(key)
        if cached is not None:
            return cached
        n, c = self.cluster_nodes, self.cluster_cpus
        if not n:
            value = 0.0
        elif self.config.favor_small:
            value = (n - nodes) / n
            if cpus and c:
                value = (value + (c - cpus) / c) / 2
        else:
            value = nodes / n
            if cpus and c:
                value = (value + cpus / c) / 2
        value = min(1.0, max(0.0, value))
        self._size[key] = value
        return value

    def factors(self, job: Job, now: float, assoc: AssocKey | None = None,
                qos: str | None = None) -> PriorityFactors:
        """All factors of one job (what sprio shows); assoc/qos are looked up when not given."""
        config = self.config
        if config.type != MULTIFACTOR:
            return PriorityFactors(job.job_id, nice=job.nice, priority=basic_priority(job))
        if assoc is None:
            assoc = self.association(job)
        if qos is None:
            qos = self.qos_name(job)
        age = 0.0
        if config.weight_age:
            waited = now - accrue_time(job)
            age = 0.0 if waited <= 0 else (waited / config.max_age if waited < config.max_age else 1.0)
        fs = self.fairshare.get(assoc, 0.0) if assoc is not None and config.weight_fairshare else 0.0
        size = (self.job_size(job.spec.num_nodes, job.spec.cpus_per_node() * job.spec.num_nodes)
                if config.weight_job_size else 0.0)
        part = self.partition_factor.get(job.partition, 0.0) if config.weight_partition else 0.0
        q = self.qos_factor.get(qos, 0.0) if qos is not None and config.weight_qos else 0.0
        return PriorityFactors(job.job_id, age, fs, size, part, q, job.nice,
                               combine(config, age, fs, size, part, q, job.nice))

    def weighted_parts(self, job: Job, assoc: AssocKey | None,
                       qos: str | None) -> tuple[float, float, float, float]:
        """The weighted fairshare, size, partition and QOS terms: all but age and nice."""
        f = self.factors(job, 0.0, assoc, qos)
        c = self.config
        return (f.fairshare * c.weight_fairshare, f.job_size * c.weight_job_size,
                f.partition * c.weight_partition, f.qos * c.weight_qos)

    def priority_from(self, job: Job, now: float,
                      parts: tuple[float, float, float, float]) -> int:
        """Multifactor priority from `weighted_parts`, the same sum as `factors` makes."""
        c = self.config
        age = 0.0
        if c.weight_age:
            since = job.eligible_time if job.eligible_time is not None else job.submit_time
            begin = job.spec.begin_time
            waited = now - (since if begin is None or begin < since else begin)
            age = 0.0 if waited <= 0 else (waited / c.max_age if waited < c.max_age else 1.0)
        total = age * c.weight_age + parts[0] + parts[1] + parts[2] + parts[3] - job.nice
        if total < 1:
            return 1
        return MAX_PRIORITY if total > MAX_PRIORITY else int(total)

    def priority(self, job: Job, now: float, assoc: AssocKey | None = None,
                 qos: str | None = None) -> int:
        if self.config.type != MULTIFACTOR:
            return basic_priority(job)
        return self.factors(job, now, assoc, qos).priority


def combine(config: PriorityConfig, age: float, fairshare: float, size: float, partition: float,
            qos: float, nice: int) -> int:
    """The integer priority from the factors, with Slurm's order of additions and rounding."""
    total = (age * config.weight_age + fairshare * config.weight_fairshare
             + size * config.weight_job_size + partition * config.weight_partition
             + qos * config.weight_qos - nice)
    if total < 1:
        return 1
    return MAX_PRIORITY if total > MAX_PRIORITY else int(total)
