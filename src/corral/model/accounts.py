"""Accounts, associations and QOS: who may run what, with which shares and limits (sacctmgr's model).

Accounts nest under "root". A user belongs to one or more accounts through associations, one
of them the user's default. Every account and association carries fair-share shares and
limits; a QOS carries a priority, per-user limits, a usage factor and whom it may preempt.
Names follow sacctmgr (MaxJobs, MaxSubmitJobs, MaxWall, GrpTRES, MaxTRESPerUser …).

TRES keys are Slurm's: "cpu", "mem" (MB), "node", "gres/gpu" and typed "gres/gpu:h100".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

ROOT = "root"
NORMAL_QOS = "normal"

# One association: (account, user); an account's own row has user "".
AssocKey = tuple[str, str]


class PreemptMode(StrEnum):
    OFF = "OFF"
    CANCEL = "CANCEL"
    REQUEUE = "REQUEUE"


@dataclass(frozen=True, slots=True)
class Limits:
    """An account's or association's limits; None (or an absent TRES key) means no limit.

    Max* limits apply to each user association and are inherited down the tree from the
    nearest account that sets them; Grp* limits cap the sum over everything beneath the
    account or association that sets them.
    """

    max_jobs: int | None = None  # MaxJobs: running jobs per user association
    max_submit_jobs: int | None = None  # MaxSubmitJobs: pending + running per user association
    max_wall: int | None = None  # MaxWall, minutes per job
    max_tres_per_job: Mapping[str, int] = field(default_factory=dict)  # MaxTRES
    grp_jobs: int | None = None  # GrpJobs: running jobs of the whole subtree
    grp_submit_jobs: int | None = None  # GrpSubmitJobs
    grp_tres: Mapping[str, int] = field(default_factory=dict)  # GrpTRES, e.g. {"gres/gpu": 8}

    @property
    def empty(self) -> bool:
        return (self.max_jobs is None and self.max_submit_jobs is None and self.max_wall is None
                and not self.max_tres_per_job and self.grp_jobs is None
                and self.grp_submit_jobs is None and not self.grp_tres)


NO_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    parent: str | None = ROOT  # None only for root
    shares: int = 1  # Fairshare= (sshare's RawShares)
    limits: Limits = NO_LIMITS
    default_qos: str | None = None
    qos: frozenset[str] = frozenset()  # allowed QOS; empty inherits from the parent
    description: str = ""
    organization: str = ""


@dataclass(frozen=True, slots=True)
class Association:
    """A user in an account."""

    user: str
    account: str
    shares: int = 1
    limits: Limits = NO_LIMITS
    default_qos: str | None = None
    qos: frozenset[str] = frozenset()  # allowed QOS; empty inherits from the account

    @property
    def key(self) -> AssocKey:
        return (self.account, self.user)


@dataclass(frozen=True, slots=True)
class User:
    name: str
    default_account: str


@dataclass(frozen=True, slots=True)
class Qos:
    name: str
    priority: int = 0
    max_jobs_per_user: int | None = None  # MaxJobsPerUser (running)
    max_submit_jobs_per_user: int | None = None  # MaxSubmitJobsPerUser
    max_tres_per_user: Mapping[str, int] = field(default_factory=dict)  # MaxTRESPerUser
    max_tres_per_job: Mapping[str, int] = field(default_factory=dict)  # MaxTRES
    max_wall: int | None = None  # MaxWall, minutes per job
    grp_jobs: int | None = None
    grp_tres: Mapping[str, int] = field(default_factory=dict)
    usage_factor: float = 1.0  # UsageFactor: multiplies the fair-share usage jobs accrue
    preempt: frozenset[str] = frozenset()  # Preempt: QOS whose jobs this one may preempt
    preempt_mode: PreemptMode | None = None  # how *this* QOS's jobs are preempted; None: cluster's
    grace_time: int = 0  # GraceTime, seconds between the signal and the kill


@dataclass(frozen=True, slots=True)
class AccountTree:
    """Accounts, users, associations and QOS as one immutable value.

    Lookups the scheduler repeats (children, ancestors) are computed once at construction.
    """

    accounts: Mapping[str, Account] = field(default_factory=lambda: {ROOT: Account(ROOT, None)})
    associations: Mapping[AssocKey, Association] = field(default_factory=dict)
    users: Mapping[str, User] = field(default_factory=dict)
    qos: Mapping[str, Qos] = field(default_factory=lambda: {NORMAL_QOS: Qos(NORMAL_QOS)})
    default_qos: str = NORMAL_QOS
    _children: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)
    _users_of: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)
    _ancestors: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem:
            raise ValueError(problem)
        children: dict[str, list[str]] = {name: [] for name in self.accounts}
        for account in self.accounts.values():
            if account.parent is not None:
                children[account.parent].append(account.name)
        users_of: dict[str, list[str]] = {name: [] for name in self.accounts}
        for account_name, user_name in self.associations:
            users_of[account_name].append(user_name)
        ancestors: dict[str, tuple[str, ...]] = {}
        for name in self.accounts:
            chain = [name]
            parent = self.accounts[name].parent
            while parent is not None:
                chain.append(parent)
                parent = self.accounts[parent].parent
            ancestors[name] = tuple(chain)
        object.__setattr__(self, "_children", {k: tuple(sorted(v)) for k, v in children.items()})
        object.__setattr__(self, "_users_of", {k: tuple(sorted(v)) for k, v in users_of.items()})
        object.__setattr__(self, "_ancestors", ancestors)

    def problem(self) -> str | None:
        """What makes this tree inconsistent, or None."""
        if ROOT not in self.accounts or self.accounts[ROOT].parent is not None:
            return "the account tree needs a root account without a parent"
        for account in self.accounts.values():
            if account.name != ROOT and (account.parent is None or account.parent not in self.accounts):
                return f"account {account.name} has an unknown parent {account.parent}"
            seen = {account.name}
            parent = account.parent
            while parent is not None:
                if parent in seen:
                    return f"account {account.name} is its own ancestor"
                seen.add(parent)
                parent = self.accounts[parent].parent
        for (account_name, user_name), assoc in self.associations.items():
            if account_name not in self.accounts:
                return f"user {user_name} is associated with an unknown account {account_name}"
            if assoc.key != (account_name, user_name):
                return f"association {assoc.key} is filed under {(account_name, user_name)}"
        for user in self.users.values():
            if (user.default_account, user.name) not in self.associations:
                return f"user {user.name}'s default account {user.default_account} has no association"
        if self.default_qos not in self.qos:
            return f"the default QOS {self.default_qos} is not defined"
        return None

    def children(self, account: str) -> tuple[str, ...]:
        """Sub-accounts, by name."""
        return self._children.get(account, ())

    def users_of(self, account: str) -> tuple[str, ...]:
        """Users with an association in this account, by name."""
        return self._users_of.get(account, ())

    def ancestors(self, account: str) -> tuple[str, ...]:
        """The account itself, then its parent, … up to root."""
        return self._ancestors.get(account, ())

    def association(self, user: str, account: str | None) -> Association | None:
        """The user's association in the account (their default account when None)."""
        if account is None:
            known = self.users.get(user)
            if known is None:
                return None
            account = known.default_account
        return self.associations.get((account, user))

    def allowed_qos(self, assoc: Association) -> frozenset[str]:
        """QOS the association may use: its own list, else the nearest account's, else all."""
        if assoc.qos:
            return assoc.qos
        for name in self.ancestors(assoc.account):
            if self.accounts[name].qos:
                return self.accounts[name].qos
        return frozenset(self.qos)

    def qos_for(self, assoc: Association, requested: str | None) -> Qos | None:
        """The QOS a job of this association runs under, or None when it may not use it."""
        name = requested
        if name is None:
            name = assoc.default_qos
            for account in self.ancestors(assoc.account):
                if name is not None:
                    break
                name = self.accounts[account].default_qos
            name = name or self.default_qos
        qos = self.qos.get(name)
        if qos is None or name not in self.allowed_qos(assoc):
            return None
        return qos


def flat_tree(users: Mapping[str, str] | None = None, qos: Mapping[str, Qos] | None = None) -> AccountTree:
    """A one-level tree: each given user (name → account) under accounts directly below root."""
    users = users or {}
    accounts = {ROOT: Account(ROOT, None)}
    accounts.update({a: Account(a) for a in set(users.values())})
    associations = {(a, u): Association(u, a) for u, a in users.items()}
    return AccountTree(accounts, associations, {u: User(u, a) for u, a in users.items()},
                       qos or {NORMAL_QOS: Qos(NORMAL_QOS)})
