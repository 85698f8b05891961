"""The controller itself: health check, who am I, configuration (scontrol show config)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from corral import __version__
from corral.controller.routes.deps import Ctl, Named

router = APIRouter(prefix="/api/v1")


@router.get("/ping")
async def ping(c: Ctl) -> dict[str, Any]:
    return {"status": "UP", "controller": c.hostname, "version": __version__}


@router.get("/whoami")
async def whoami(caller: Named) -> dict[str, Any]:
    return {"uid": caller.uid, "gid": caller.gid, "user": caller.user,
            "operator": caller.operator, "job": caller.job_scope}


@router.get("/config")
async def config(c: Ctl, _: Named) -> dict[str, Any]:
    s = c.settings
    return {
        "ClusterName": s.cluster_name, "SLURM_VERSION": "22.05.8", "CORRAL_VERSION": __version__,
        "SlurmctldHost": f"{c.hostname}({s.host})", "SlurmctldPort": s.port,
        "DefMemPerCPU": s.def_mem_per_cpu, "KillWait": f"{int(s.kill_wait)} sec",
        "MinJobAge": f"{int(s.min_job_age)} sec", "SlurmdTimeout": f"{int(s.node_timeout)} sec",
        # backfill = "fifo" is Slurm's sched/builtin; easy and conservative are backfill.
        "SchedulerType": "sched/builtin" if s.policy.backfill == "fifo" else "sched/backfill",
        "SelectType": "select/cons_tres",
        "SelectTypeParameters": "CR_CORE_MEMORY",
        "PriorityType": f"priority/{s.policy.priority.type}",
        "SchedulerParameters": f"backfill={s.policy.backfill}",
        "PreemptMode": s.policy.preempt_mode.value,
        "AccountingStorageEnforce": "associations,limits,qos" if s.enforce_associations else "none",
        "AccountingStorageType": "accounting_storage/" + c.store.engine.dialect.name,
        "ProctrackType": "proctrack/corral-subreaper", "MaxArraySize": s.max_array_size,
        "FirstJobId": 1, "StateSaveLocation": str(s.data_dir),
    }
