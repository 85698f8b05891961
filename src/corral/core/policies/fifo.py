"""First in, first out (Slurm's sched/builtin): a partition starts nothing behind its first
waiting job. That job still reserves, for its estimated start (squeue --start)."""

from corral.core.policies import QueuePolicy

POLICY = QueuePolicy(
    name="fifo", backfill=False, reserve_all=False, scheduler_type="sched/builtin",
    aliases=("sched/builtin",), replay_cuts=True,
    summary="no backfill: a partition starts nothing behind its first waiting job")
