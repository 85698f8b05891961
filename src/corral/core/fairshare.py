"""Fair-share: usage decayed with a half-life, and each association's share of the machine.

Usage is what jobs consumed (billable CPU-seconds times the QOS UsageFactor), decayed as
Slurm's priority/multifactor decays it: a per-second factor d = 1 - 0.693 / half_life, so
usage u seen `t` seconds later is u·dᵗ (half of it after one half-life). The tree walk gives
what `sshare` shows per association — RawShares, NormShares, RawUsage, EffectvUsage,
FairShare — with either algorithm:

* Fair Tree (Slurm's default; Cox & Morrison, BYU, 2014): at each level the siblings are
  ranked by LevelFS = S / U (S: shares over the siblings' shares, U: usage over the parent's
  usage); a depth-first walk in that order ranks every user, and a user's factor is
  rank / number of users. All users of a better-served account rank below all users of a
  less-served sibling account.
* Classic: NormShares is the product of share ratios down the tree, EffectvUsage
  UE = UA + (UE_parent − UA)·S/S_siblings (UA: usage over all usage), and the factor is
  2^(−UE / NormShares / dampening).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from corral.model.accounts import ROOT, AccountTree, AssocKey
from corral.model.job import Job

FAIR_TREE = "fair_tree"
CLASSIC = "classic"


def decay_factor(half_life: float) -> float:
    """Slurm's per-second decay factor; 1 (no decay) for a half-life of zero or less."""
    return 1.0 - 0.693 / half_life if half_life > 0 else 1.0


def decay(usage: float, elapsed: float, half_life: float) -> float:
    """Usage as it counts `elapsed` seconds later."""
    if elapsed <= 0 or half_life <= 0:
        return usage
    factor: float = decay_factor(half_life) ** elapsed  # float ** float is typed Any
    return usage * factor


def decay_all(usage: Mapping[AssocKey, float], elapsed: float,
              half_life: float) -> dict[AssocKey, float]:
    factor = decay(1.0, elapsed, half_life)
    return {key: value * factor for key, value in usage.items()}


def new_usage(run_seconds: float, billable: float, half_life: float,
              usage_factor: float = 1.0) -> float:
    """Usage a job adds for `run_seconds` of running on `billable` TRES (CPUs by default).

    Like Slurm, the slice itself is decayed as a whole (run·dʳᵘⁿ), so charging a job every
    calculation period and decaying in between agree with each other.
    """
    if run_seconds <= 0:
        return 0.0
    return run_seconds * decay(1.0, run_seconds, half_life) * billable * max(usage_factor, 0.0)


def charge(usage: Mapping[AssocKey, float], key: AssocKey, amount: float) -> dict[AssocKey, float]:
    """Usage with `amount` added to one user association."""
    out = dict(usage)
    out[key] = out.get(key, 0.0) + amount
    return out


def accrue_usage(usage: Mapping[AssocKey, float], elapsed: float, half_life: float,
                 tree: AccountTree, ran: Iterable[tuple[Job, float]]) -> dict[AssocKey, float]:
    """Usage `elapsed` seconds later: all of it decayed over that time, then each job charged
    for the seconds it ran in it (its CPUs, times its QOS's UsageFactor) to its user
    association. The one place usage accrues: the controller calls it every pass (Slurm's
    PriorityCalcPeriod) with what each job ran since it was last charged, the simulator at
    every instant with its running jobs; a job that ran no time is not charged."""
    out = decay_all(usage, elapsed, half_life) if elapsed > 0 else dict(usage)
    for job, seconds in ran:
        if seconds <= 0:
            continue
        qos = tree.qos.get(job.spec.qos or tree.default_qos)
        amount = new_usage(seconds, job.num_cpus, half_life, qos.usage_factor if qos else 1.0)
        key = (job.spec.account or "", job.spec.user)
        out[key] = out.get(key, 0.0) + amount
    return out


@dataclass(frozen=True, slots=True)
class ShareRow:
    """One line of `sshare -l`: an account (user "") or a user association."""

    account: str
    user: str
    depth: int
    raw_shares: int
    norm_shares: float
    raw_usage: float
    norm_usage: float
    effectv_usage: float
    level_fs: float | None  # Fair Tree only (infinite with no usage)
    fairshare: float | None  # users always; accounts only under classic


def share_table(tree: AccountTree, usage: Mapping[AssocKey, float],
                algorithm: str = FAIR_TREE, dampening: float = 1.0) -> dict[AssocKey, ShareRow]:
    """Every association's row, in sshare's order (depth first, users before sub-accounts).

    `usage` holds each user association's decayed raw usage; an account's usage is the sum
    beneath it. Users with no association usage count as zero.
    """
    if algorithm not in (FAIR_TREE, CLASSIC):
        raise ValueError(f"unknown fair-share algorithm {algorithm!r}")
    walk = _Walk(tree, usage)
    if algorithm == FAIR_TREE:
        factors = walk.fair_tree_factors()
    else:
        factors = {}
    rows: dict[AssocKey, ShareRow] = {}
    for key, depth in walk.order:
        rows[key] = walk.row(key, depth, algorithm, factors, dampening)
    return rows


def fairshare_factors(tree: AccountTree, usage: Mapping[AssocKey, float],
                      algorithm: str = FAIR_TREE, dampening: float = 1.0) -> dict[AssocKey, float]:
    """Each user association's fair-share factor, 0..1."""
    rows = share_table(tree, usage, algorithm, dampening)
    return {key: row.fairshare or 0.0 for key, row in rows.items() if key[1]}


class _Walk:
    """The tree with usage summed upwards, ready for either algorithm."""

    def __init__(self, tree: AccountTree, usage: Mapping[AssocKey, float]) -> None:
        self.tree = tree
        self.raw: dict[AssocKey, float] = {}
        self.order: list[tuple[AssocKey, int]] = []
        self._level_shares: dict[str, int] = {}
        self._classic_usage: dict[AssocKey, float] = {}
        self._visit(ROOT, 0)
        for key in tree.associations:
            self.raw[key] = max(0.0, usage.get(key, 0.0))
        self.root_usage = self._accumulate(ROOT)

    def _visit(self, account: str, depth: int) -> None:
        self.order.append(((account, ""), depth))
        for user in self.tree.users_of(account):
            self.order.append(((account, user), depth + 1))
        for child in self.tree.children(account):
            self._visit(child, depth + 1)

    def _accumulate(self, account: str) -> float:
        total = sum(self.raw[(account, u)] for u in self.tree.users_of(account))
        total += sum(self._accumulate(child) for child in self.tree.children(account))
        self.raw[(account, "")] = total
        return total

    def siblings(self, account: str) -> list[AssocKey]:
        """Children of an account: its users' associations, then its sub-accounts."""
        return ([(account, u) for u in self.tree.users_of(account)]
                + [(c, "") for c in self.tree.children(account)])

    def shares(self, key: AssocKey) -> int:
        account, user = key
        if user:
            return self.tree.associations[key].shares
        return self.tree.accounts[account].shares

    def parent(self, key: AssocKey) -> AssocKey | None:
        account, user = key
        if user:
            return (account, "")
        parent = self.tree.accounts[account].parent
        return (parent, "") if parent is not None else None

    def level_shares(self, key: AssocKey) -> int:
        parent = self.parent(key)
        if parent is None:
            return self.shares(key)
        total = self._level_shares.get(parent[0])
        if total is None:
            total = self._level_shares[parent[0]] = sum(
                self.shares(k) for k in self.siblings(parent[0]))
        return total

    def norm_level_shares(self, key: AssocKey) -> float:
        level = self.level_shares(key)
        return self.shares(key) / level if level else 0.0

    def norm_usage(self, key: AssocKey) -> float:
        return min(1.0, self.raw[key] / self.root_usage) if self.root_usage else 0.0

    def level_usage(self, key: AssocKey) -> float:
        parent = self.parent(key)
        parent_usage = self.raw[parent] if parent is not None else 0.0
        return self.raw[key] / parent_usage if parent_usage else 0.0

    def level_fs(self, key: AssocKey) -> float:
        shares = self.norm_level_shares(key)
        if shares == 0:
            return 0.0
        usage = self.level_usage(key)
        return shares / usage if usage else math.inf

    # -- Fair Tree --------------------------------------------------------------------------

    def fair_tree_factors(self) -> dict[AssocKey, float]:
        users = len(self.tree.associations)
        factors: dict[AssocKey, float] = {}
        if users:
            state = [users, users]  # rank, rank-without-ties
            self._rank(self.siblings(ROOT), False, state, factors, users)
        return factors

    def _rank(self, siblings: Iterable[AssocKey], tied_with_parent: bool, state: list[int],
              factors: dict[AssocKey, float], users: int) -> None:
        # Highest LevelFS first; on a tie users come before accounts, then by name so the
        # walk is deterministic.
        ordered = sorted(((self.level_fs(k), k) for k in siblings),
                         key=lambda item: (-item[0], item[1][1] == "", item[1]))
        previous: float | None = None
        i = 0
        while i < len(ordered):
            fs, key = ordered[i]
            tied = tied_with_parent if i == 0 else fs == previous
            if key[1]:
                if not tied:
                    state[0] = state[1]
                factors[key] = state[0] / users
                state[1] -= 1
                i += 1
            else:
                # Sibling accounts with the same LevelFS are ranked as one: their children
                # are merged before sorting (Fair Tree's tie rule 2).
                merged = [key]
                while i + 1 < len(ordered) and not ordered[i + 1][1][1] and ordered[i + 1][0] == fs:
                    i += 1
                    merged.append(ordered[i][1])
                children = [c for account in merged for c in self.siblings(account[0])]
                self._rank(children, tied, state, factors, users)
                i += 1
            previous = fs

    # -- classic ----------------------------------------------------------------------------

    def classic_norm_shares(self, key: AssocKey) -> float:
        value = 1.0
        current: AssocKey | None = key
        while current is not None and self.parent(current) is not None:
            value *= self.norm_level_shares(current)
            current = self.parent(current)
        return value

    def classic_effective_usage(self, key: AssocKey) -> float:
        cache = self._classic_usage
        if key in cache:
            return cache[key]
        parent = self.parent(key)
        norm = self.norm_usage(key)
        if parent is None:
            value = 1.0
        elif parent == (ROOT, ""):
            value = norm
        else:
            level = self.level_shares(key)
            parent_usage = self.classic_effective_usage(parent)
            value = (parent_usage if not level
                     else norm + (parent_usage - norm) * (self.shares(key) / level))
        cache[key] = value
        return value

    # -- rows -------------------------------------------------------------------------------

    def row(self, key: AssocKey, depth: int, algorithm: str, factors: Mapping[AssocKey, float],
            dampening: float) -> ShareRow:
        account, user = key
        is_root = key == (ROOT, "")
        raw_shares = self.shares(key)
        if algorithm == FAIR_TREE:
            norm_shares = 1.0 if is_root else self.norm_level_shares(key)
            effective = 1.0 if is_root else self.level_usage(key)
            level_fs: float | None = None if is_root else self.level_fs(key)
            fairshare: float | None = factors.get(key) if user else None
        else:
            norm_shares = self.classic_norm_shares(key)
            effective = self.classic_effective_usage(key)
            level_fs = None
            fairshare = (2.0 ** (-(effective / norm_shares) / dampening)
                         if norm_shares > 0 and not is_root else (None if is_root else 0.0))
        return ShareRow(account, user, depth, raw_shares, norm_shares, self.raw[key],
                        1.0 if is_root else self.norm_usage(key), effective, level_fs, fairshare)
