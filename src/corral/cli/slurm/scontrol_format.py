"""scontrol's `show job|node|partition|config` records, laid out as Slurm 22.05 does (pure)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from corral.model.hostlist import compress
from corral.model.timefmt import format_hms, format_limit_hms, format_memory_mb, format_timestamp

Record = Mapping[str, Any]
SLURM_VERSION = "22.05.8"
_ENDED_STATES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY",
                           "NODE_FAIL", "PREEMPTED", "DEADLINE", "BOOT_FAIL"})


def _record(lines: Sequence[str], one_liner: bool, trailing: bool) -> str:
    """Lines joined as Slurm does: "\\n   " between them (one space with -o), then the end.

    `trailing` adds the separator once more after the last line, as `show job` does after Power=.
    """
    sep = " " if one_liner else "\n   "
    text = sep.join(lines) + (sep if trailing else "")
    return text + ("\n" if one_liner else "\n\n")


def _or_null(value: Any) -> str:
    return "(null)" if value is None or value == "" or value == [] else str(value)


def _nodes(names: Iterable[str] | None) -> str:
    names = list(names or [])
    return compress(names) if names else ""


def _mem(mb: int | None) -> str:
    return format_memory_mb(int(mb)) if mb else "0"


def job_id_text(rec: Record) -> str:
    """JobId=… and, for an array task, its ArrayJobId/ArrayTaskId(/ArrayTaskThrottle) fields."""
    text = f"JobId={rec['job_id']}"
    if rec.get("array_job_id"):
        task = rec.get("array_task_string") or rec.get("array_task_id")
        text += f" ArrayJobId={rec['array_job_id']} ArrayTaskId={task}"
        if rec.get("array_max_tasks"):
            text += f" ArrayTaskThrottle={rec['array_max_tasks']}"
    return text


def job_tres(rec: Record) -> str:
    """TRES=cpu=N,mem=NM,node=N,billing=N[,gres/gpu=N], in Slurm's TRES order."""
    nodes = int(rec.get("num_nodes") or 1)
    cpus = int(rec.get("num_cpus") or 0)
    parts = [f"cpu={cpus}"]
    per_node = rec.get("mem_per_node") or rec.get("min_memory_node")
    if per_node:
        parts.append(f"mem={format_memory_mb(int(per_node) * nodes)}")
    parts += [f"node={nodes}", f"billing={cpus}"]
    gpus = int(rec.get("gpus") or 0) or int(rec.get("gpus_per_node") or 0) * nodes
    if gpus:
        parts.append(f"gres/gpu={gpus}")
    return ",".join(parts)


def _job_times(rec: Record, now: float) -> tuple[int, Any, Any]:
    """RunTime seconds, StartTime epoch and EndTime epoch (None = Unknown) of a job record."""
    state = rec["state"]
    start, end = rec.get("start_time"), rec.get("end_time")
    if state == "PENDING":
        return 0, rec.get("estimated_start"), None
    if start is None:
        return 0, end, end
    until = end if end is not None else now
    run = max(0, math.floor(until) - math.floor(start))
    if end is None and state not in _ENDED_STATES:
        limit = rec.get("time_limit")
        end = None if limit is None else start + int(limit) * 60
    return run, start, end


def format_job(rec: Record, now: float, tz: dt.tzinfo | None = None,
               one_liner: bool = False) -> str:
    """One `scontrol show job` record, blank line included (one line with `-o`)."""
    def ts(value: Any) -> str:
        return format_timestamp(value, tz)

    run, start, end = _job_times(rec, now)
    started = rec.get("start_time") is not None
    last_eval = rec.get("last_sched_eval") or (rec.get("start_time") if started
                                                else rec.get("submit_time"))
    scheduler = rec.get("scheduler") or ("Main" if started else "Backfill:*")
    cpus_per_task = int(rec.get("cpus_per_task") or 1)
    per_node_tasks = rec.get("ntasks_per_node")
    exit_code = f"{rec.get('exit_code') or 0}:{rec.get('exit_signal') or 0}"
    if rec.get("mem_per_cpu"):
        memory = f"MinMemoryCPU={_mem(rec['mem_per_cpu'])}"
    else:
        memory = f"MinMemoryNode={_mem(rec.get('min_memory_node'))}"
    lines = [
        f"{job_id_text(rec)} JobName={rec.get('name', '')}",
        (f"UserId={rec.get('user')}({rec.get('uid')}) GroupId={rec.get('group')}({rec.get('gid')})"
         " MCS_label=N/A"),
        (f"Priority={rec.get('priority', 0)} Nice={rec.get('nice', 0)} "
         f"Account={_or_null(rec.get('account'))} QOS={_or_null(rec.get('qos'))}"),
        (f"JobState={rec['state']} Reason={rec.get('reason') or 'None'} "
         f"Dependency={_or_null(rec.get('dependency'))}"),
        (f"Requeue={int(bool(rec.get('requeue', True)))} Restarts={rec.get('restarts', 0)} "
         f"BatchFlag=1 Reboot=0 ExitCode={exit_code}"),
        (f"RunTime={format_hms(run)} TimeLimit={format_limit_hms(rec.get('time_limit'))} "
         f"TimeMin={'N/A' if rec.get('time_min') is None else format_limit_hms(rec['time_min'])}"),
        f"SubmitTime={ts(rec.get('submit_time'))} EligibleTime={ts(rec.get('eligible_time'))}",
        f"AccrueTime={ts(rec.get('accrue_time', rec.get('eligible_time')))}",
        f"StartTime={ts(start)} EndTime={ts(end)} "
        f"Deadline={'N/A' if rec.get('deadline') is None else ts(rec['deadline'])}",
        f"SuspendTime=None SecsPreSuspend=0 LastSchedEval={ts(last_eval)} Scheduler={scheduler}",
        (f"Partition={rec.get('partition')} "
         f"AllocNode:Sid={rec.get('submit_host') or 'localhost'}:{rec.get('alloc_sid', 0)}"),
        (f"ReqNodeList={_or_null(_nodes(rec.get('req_nodes')))} "
         f"ExcNodeList={_or_null(_nodes(rec.get('exc_nodes')))}"),
        f"NodeList={_nodes(rec.get('nodes'))}",
    ]
    if rec.get("batch_host"):
        lines.append(f"BatchHost={rec['batch_host']}")
    lines += [
        (f"NumNodes={rec.get('num_nodes') or 1} NumCPUs={rec.get('num_cpus') or 0} "
         f"NumTasks={rec.get('num_tasks') or 1} CPUs/Task={cpus_per_task} ReqB:S:C:T=0:0:*:*"),
        f"TRES={job_tres(rec)}",
        f"Socks/Node=* NtasksPerN:B:S:C={per_node_tasks or 0}:0:*:* CoreSpec=*",
        f"MinCPUsNode={cpus_per_task * int(per_node_tasks or 1)} {memory} MinTmpDiskNode=0",
        f"Features={_or_null(rec.get('constraint') or '')} DelayBoot=00:00:00",
        (f"OverSubscribe={'NO' if rec.get('exclusive') else 'OK'} Contiguous=0 "
         "Licenses=(null) Network=(null)"),
        f"Command={_or_null(rec.get('command'))}",
        f"WorkDir={rec.get('work_dir')}",
    ]
    if rec.get("comment"):
        lines.append(f"Comment={rec['comment']}")
    lines += [f"StdErr={rec.get('stderr') or ''}", f"StdIn={rec.get('stdin') or '/dev/null'}",
              f"StdOut={rec.get('stdout') or ''}", "Power="]
    if rec.get("tres_per_node"):
        lines.append(f"TresPerNode={rec['tres_per_node']}")
    return _record(lines, one_liner, trailing=True)


def node_state(node: Record) -> str:
    """State=… of `show node`: IDLE, MIXED, ALLOCATED, DOWN, with `*` and `+DRAIN` as Slurm adds."""
    state = str(node.get("state") or "UNKNOWN").upper()
    cpus, alloc = int(node.get("cpus") or 0), int(node.get("alloc_cpus") or 0)
    drain = bool(node.get("drain")) or state in ("DRAINED", "DRAINING", "DRAIN")
    if state in ("DRAINED", "DRAINING", "DRAIN"):
        state = "IDLE" if alloc == 0 else "ALLOCATED" if alloc >= cpus else "MIXED"
    star = "" if node.get("responding", True) else "*"
    return f"{state}{star}{'+DRAIN' if drain else ''}"


def node_gres(node: Record) -> str:
    gpus = int(node.get("gpus") or 0)
    if not gpus:
        return "(null)"
    return f"gpu:{node['gpu_type']}:{gpus}" if node.get("gpu_type") else f"gpu:{gpus}"


def format_node(node: Record, tz: dt.tzinfo | None = None, one_liner: bool = False) -> str:
    """One `scontrol show node` record, blank line included (one line with `-o`)."""
    def ts(value: Any) -> str:
        return "None" if not value else format_timestamp(value, tz)

    cpus, memory, gpus = int(node["cpus"]), int(node["memory"]), int(node.get("gpus") or 0)
    alloc_cpus, alloc_mem = int(node.get("alloc_cpus") or 0), int(node.get("alloc_memory") or 0)
    alloc_gpus = int(node.get("alloc_gpus") or 0)
    load = node.get("cpu_load")
    free = node.get("free_memory")
    features = ",".join(node.get("features") or []) or "(null)"
    cfg_tres = f"cpu={cpus},mem={format_memory_mb(memory)},billing={cpus}"
    cfg_tres += f",gres/gpu={gpus}" if gpus else ""
    alloc_tres = ",".join(part for part in (
        f"cpu={alloc_cpus}" if alloc_cpus else "",
        f"mem={format_memory_mb(alloc_mem)}" if alloc_mem else "",
        f"gres/gpu={alloc_gpus}" if alloc_gpus else "") if part)
    first = f"NodeName={node['name']} "
    first += f"Arch={node['arch']} " if node.get("arch") else ""
    lines = [
        first + f"CoresPerSocket={node.get('cores_per_socket') or cpus} ",
        (f"CPUAlloc={alloc_cpus} CPUEfctv={cpus} CPUTot={cpus} "
         f"CPULoad={'N/A' if load is None else f'{float(load):.2f}'}"),
        f"AvailableFeatures={features}",
        f"ActiveFeatures={features}",
        f"Gres={node_gres(node)}",
        (f"NodeAddr={node.get('addr') or node['name']} "
         f"NodeHostName={node.get('hostname') or node['name']} "
         f"Version={node.get('version') or SLURM_VERSION}"),
    ]
    if node.get("os"):
        lines.append(f"OS={node['os']} ")
    lines += [
        (f"RealMemory={memory} AllocMem={alloc_mem} FreeMem={'N/A' if free is None else free} "
         f"Sockets={node.get('sockets') or 1} Boards=1"),
        (f"State={node_state(node)} ThreadsPerCore={node.get('threads_per_core') or 1} "
         "TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A"),
    ]
    if node.get("partitions"):
        lines.append(f"Partitions={','.join(node['partitions'])} ")
    lines += [
        (f"BootTime={ts(node.get('boot_time'))} "
         f"SlurmdStartTime={ts(node.get('agent_start_time'))}"),
        f"LastBusyTime={ts(node.get('last_busy_time') or node.get('agent_start_time'))}",
        f"CfgTRES={cfg_tres}",
        f"AllocTRES={alloc_tres}",
        "CapWatts=n/a",
        "CurrentWatts=0 AveWatts=0",
        "ExtSensorsJoules=n/s ExtSensorsWatts=0 ExtSensorsTemp=n/s",
    ]
    if node.get("cgroup"):
        # corral's own line: how the node confines jobs ("none" = no usable cgroups).
        lines.append(f"Isolation={str(node['cgroup']).split(' ')[0]} "
                     f"Enforced={node.get('enforced') or '(null)'}")
    if node.get("reason"):
        reason = f"Reason={node['reason']}"
        if node.get("reason_time"):
            who = node.get("reason_user") or node.get("reason_uid", "root")
            reason += f" [{who}@{format_timestamp(node['reason_time'], tz)}]"
        lines.append(reason)
    return _record(lines, one_liner, trailing=False)


def format_partition(part: Record, nodes: Sequence[Record] = (),
                     one_liner: bool = False) -> str:
    """One `scontrol show partition` record; `nodes` (node records) give its memory and GPUs."""
    members = set(part.get("nodes") or [])
    mine = [n for n in nodes if n.get("name") in members]
    cpus = int(part.get("total_cpus") or sum(int(n.get("cpus") or 0) for n in mine))
    count = int(part.get("total_nodes") or len(members))
    tres = f"cpu={cpus}"
    memory = sum(int(n.get("memory") or 0) for n in mine)
    tres += f",mem={format_memory_mb(memory)}" if memory else ""
    tres += f",node={count},billing={cpus}"
    gpus = sum(int(n.get("gpus") or 0) for n in mine)
    tres += f",gres/gpu={gpus}" if gpus else ""
    default_time = part.get("default_time")
    max_nodes = part.get("max_nodes")
    lines = [
        f"PartitionName={part['name']}",
        "AllowGroups=ALL AllowAccounts=ALL AllowQos=ALL",
        f"AllocNodes=ALL Default={'YES' if part.get('default') else 'NO'} QoS=N/A",
        (f"DefaultTime={'NONE' if default_time is None else format_limit_hms(default_time)} "
         "DisableRootJobs=NO ExclusiveUser=NO GraceTime=0 Hidden=NO"),
        (f"MaxNodes={'UNLIMITED' if max_nodes is None else max_nodes} "
         f"MaxTime={format_limit_hms(part.get('max_time'))} MinNodes=0 LLN=NO "
         "MaxCPUsPerNode=UNLIMITED"),
        f"Nodes={_or_null(_nodes(part.get('nodes')))}",
        "PriorityJobFactor=1 PriorityTier=1 RootOnly=NO ReqResv=NO OverSubscribe=NO",
        "OverTimeLimit=NONE PreemptMode=OFF",
        (f"State={part.get('state') or 'UP'} TotalCPUs={cpus} TotalNodes={count} "
         "SelectTypeParameters=NONE"),
        "JobDefaults=(null)",
        "DefMemPerNode=UNLIMITED MaxMemPerNode=UNLIMITED",
        f"TRES={tres}",
    ]
    return _record(lines, one_liner, trailing=False)


def _config_value(value: Any) -> str:
    if value is None:
        return "(null)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def format_config(config: Mapping[str, Any], now: float, tz: dt.tzinfo | None = None) -> str:
    """`scontrol show config`: a dated header, then `Key = Value` lines sorted by key."""
    lines = [f"Configuration data as of {format_timestamp(now, tz)}"]
    for key in sorted(config, key=str.lower):
        lines.append(f"{key:<23} = {_config_value(config[key])}")
    return "\n".join(lines) + "\n"


def ping_line(host: str, up: bool) -> str:
    return f"Slurmctld(primary) at {host} is {'UP' if up else 'DOWN'}"
