"""The controller's accounting: the account tree (sacctmgr), who may submit where, and the
fair-share usage that running jobs accrue.

The tree lives in memory as one immutable AccountTree and is saved whole on every sacctmgr
change. Usage is charged to each running job's association as the scheduling passes go by
(Slurm's PriorityCalcPeriod), decayed with PriorityDecayHalfLife, and saved every minute.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from corral.controller.writer import InlineWriter, Writer
from corral.core.fairshare import accrue_usage, share_table
from corral.core.limits import LimitState, check_submit
from corral.model.account_admin import AdminError, apply_admin, request_from_dict
from corral.model.account_codec import tree_from_dict, tree_to_dict
from corral.model.accounts import ROOT, AccountTree, Association, AssocKey, User
from corral.model.cluster import Partition
from corral.model.errors import InvalidRequest
from corral.model.job import Job, JobSpec
from corral.settings import ControllerSettings
from corral.store.store import Store

log = logging.getLogger("corral.controller")

USAGE_SAVE_INTERVAL = 60.0


class Accounting:
    def __init__(self, settings: ControllerSettings, store: Store,
                 clock: Callable[[], float], writer: Writer | None = None) -> None:
        self.settings = settings
        self.store = store
        # Saves go through the store's one writer (its thread, in the live controller).
        self.writer: Writer = writer if writer is not None else InlineWriter(store)
        self.saving = asyncio.Lock()  # one sacctmgr change at a time, made on the last one
        self.clock = clock
        saved = store.load_accounts()
        self.tree = tree_from_dict(saved) if saved is not None else AccountTree()
        self.usage: dict[AssocKey, float] = store.load_usage()
        now = clock()
        self.decayed_at = now
        self.saved_at = now
        # How far each running job's usage has been charged (by job id and attempt).
        self.charged: dict[tuple[int, int], float] = {}

    @property
    def half_life(self) -> float:
        return float(self.settings.policy.priority.decay_half_life)

    # -- submit ------------------------------------------------------------------------------

    async def associate(self, spec: JobSpec) -> None:
        """Adds a submitting user the tree does not know to root (AutoAssociate), saved
        through the writer, before admit."""
        if not self._unknown(spec):
            return
        async with self.saving:
            if self._unknown(spec):
                await self._save(_with_user(self.tree, spec.user, ROOT))

    def _unknown(self, spec: JobSpec) -> bool:
        return (self.settings.enforce_associations and self.settings.auto_associate
                and spec.account is None and spec.user not in self.tree.users)

    def admit(self, spec: JobSpec) -> JobSpec:
        """The spec with its account and QOS resolved, or InvalidRequest in sbatch's words."""
        if not self.settings.enforce_associations:
            return spec
        tree = self.tree
        if (self.settings.auto_associate and spec.account is None
                and spec.user not in tree.users):
            # Callers that did not associate first (tests, in-process drivers): saved here.
            self.store.save_accounts(tree_to_dict(_with_user(tree, spec.user, ROOT)))
            self.tree = tree = _with_user(tree, spec.user, ROOT)
        assoc = tree.association(spec.user, spec.account)
        if assoc is None:
            raise InvalidRequest(
                f"invalid account or account/partition combination specified: "
                f"{spec.account or '(none)'} for user {spec.user}\n"
                "Batch job submission failed: Invalid account or account/partition combination specified")
        qos = tree.qos_for(assoc, spec.qos)
        if qos is None:
            raise InvalidRequest(f"invalid qos specification: {spec.qos}\n"
                                 "Batch job submission failed: Invalid qos specification")
        return replace(spec, account=assoc.account, qos=qos.name)

    def check(self, job: Job, partition: Partition, counts: LimitState | None) -> None:
        """Refuses a job that could never run under its limits (Slurm refuses these at submit)."""
        if not self.settings.enforce_associations:
            return
        refusal = check_submit(job, self.tree, partition,
                               counts if self.settings.policy.enforce_limits else None)
        if refusal is not None:
            raise InvalidRequest(f"{refusal.detail}\nBatch job submission failed: {refusal.summary}")

    # -- sacctmgr ----------------------------------------------------------------------------

    async def admin(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Applies a sacctmgr request to the tree; a change is saved (through the writer)
        before it is taken in memory: a save that fails raises and changes nothing."""
        async with self.saving:
            try:
                request = request_from_dict(data)
                result = apply_admin(self.tree, request, self.settings.cluster_name)
            except (AdminError, ValueError, KeyError, TypeError) as exc:
                raise InvalidRequest(str(exc).strip("'\"") or "invalid sacctmgr request") from None
            if result.changed and not data.get("dry_run"):
                await self._save(result.tree)
        return {"message": result.message, "changed": result.changed}

    async def _save(self, tree: AccountTree) -> None:
        await self.writer.write(self.store.save_accounts, tree_to_dict(tree))
        self.tree = tree

    def as_dict(self) -> dict[str, Any]:
        return tree_to_dict(self.tree)

    # -- usage -------------------------------------------------------------------------------

    def accrue(self, jobs: Iterable[Job], now: float) -> None:
        """Decays all usage to `now`, then charges every job that ran since the last call
        (the arithmetic is core.fairshare.accrue_usage's; what was charged when, here)."""
        elapsed = now - self.decayed_at
        if elapsed > 0:
            self.decayed_at = now
        seen: set[tuple[int, int]] = set()
        ran: list[tuple[Job, float]] = []
        for job in jobs:
            if job.start_time is None or job.spec.account is None:
                continue
            key = (job.job_id, job.attempt)
            ran_to = now if job.state.is_active else (job.end_time or now)
            since = self.charged.get(key, job.start_time)
            if job.state.is_active:
                seen.add(key)
            elif key not in self.charged:
                continue  # ended before we ever charged it: only jobs seen running are billed
            ran.append((job, ran_to - since))
            self.charged[key] = ran_to
        for key in [k for k in self.charged if k not in seen]:
            del self.charged[key]
        self.usage = accrue_usage(self.usage, elapsed, self.half_life, self.tree, ran)
        if now - self.saved_at >= USAGE_SAVE_INTERVAL:
            self.save_usage(now)

    def save_usage(self, now: float) -> None:
        """Hands the usage to the writer and goes on (in the live controller its thread
        saves it); a save that fails is logged and tried again at the next pass."""
        before, self.saved_at = self.saved_at, now  # not handed again while on its way

        def failed(exc: BaseException) -> None:
            # A busy database must not stop scheduling; the next pass retries.
            log.error("saving fair-share usage failed", exc_info=exc)
            if self.saved_at == now:
                self.saved_at = before

        try:
            pending = self.writer.write(self.store.save_usage, dict(self.usage))
        except Exception as exc:
            failed(exc)
            return
        if isinstance(pending, asyncio.Future):
            def done(future: asyncio.Future[None]) -> None:
                if not future.cancelled() and (exc := future.exception()) is not None:
                    failed(exc)

            pending.add_done_callback(done)

    def shares(self) -> dict[str, Any]:
        algorithm = self.settings.policy.priority.fairshare
        rows = share_table(self.tree, self.usage, algorithm)
        return {"algorithm": algorithm, "rows": [_row(r) for r in rows.values()]}


def _row(row: Any) -> dict[str, Any]:
    level_fs = row.level_fs
    if level_fs is not None and level_fs == float("inf"):
        level_fs = "inf"
    return {"account": row.account, "user": row.user, "depth": row.depth,
            "raw_shares": row.raw_shares, "norm_shares": row.norm_shares,
            "raw_usage": row.raw_usage, "norm_usage": row.norm_usage,
            "effectv_usage": row.effectv_usage, "level_fs": level_fs, "fairshare": row.fairshare}


def _with_user(tree: AccountTree, user: str, account: str) -> AccountTree:
    """The tree with `user` added to `account`, which becomes their default account."""
    return AccountTree(tree.accounts, {**tree.associations, (account, user): Association(user, account)},
                       {**tree.users, user: User(user, account)}, tree.qos, tree.default_qos)
