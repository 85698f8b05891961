"""EASY backfill (Lifka's, as Slurm's sched/backfill runs it by default): the first waiting
job of each partition reserves the nodes it will start on; later jobs start now wherever
they delay no reservation."""

from corral.core.policies import QueuePolicy

POLICY = QueuePolicy(
    name="easy", backfill=True, reserve_all=False, scheduler_type="sched/backfill",
    aliases=("sched/backfill",), replay_cuts=True,
    summary="the first waiting job of each partition is protected by a reservation")
