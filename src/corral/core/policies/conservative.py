"""Conservative backfill: every waiting job reserves (up to SchedulingPolicy.reserve_depth a
pass, Slurm's bf_max_job_test), so no job is delayed by one that started after it."""

from corral.core.policies import QueuePolicy

POLICY = QueuePolicy(
    name="conservative", backfill=True, reserve_all=True, scheduler_type="sched/backfill",
    replay_cuts=True,
    summary="every waiting job is protected by a reservation, up to reserve_depth a pass")
