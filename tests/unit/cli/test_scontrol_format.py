"""scontrol's output, checked line by line against real Slurm 22.05 transcripts; its commands."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest

from corral.cli.common.getopt import OptionError
from corral.cli.slurm import scontrol_format as fmt
from corral.cli.slurm.scontrol import Scontrol, controller_host, job_ids, keyword, parse_args
from corral.client import ClientError, ControllerUnreachable

UTC = dt.UTC


def at(clock: str) -> float:
    """Epoch of a wall-clock time on 2026-11-22 (UTC), the day of the transcripts."""
    return dt.datetime.fromisoformat(f"2026-11-22T{clock}").replace(tzinfo=UTC).timestamp()


def make_job(**overrides: Any) -> dict[str, Any]:
    """A job record as GET /api/v1/jobs returns it: job 2450 of 12_scontrol_show_job.txt."""
    record: dict[str, Any] = {
        "job_id": 2450, "name": "wrap", "user": "root", "uid": 0, "group": "root", "gid": 0,
        "account": "root", "partition": "debug", "qos": "normal", "state": "RUNNING",
        "reason": "None", "priority": 1, "nice": 0, "held": False, "requeue": True,
        "restarts": 0, "exclusive": False, "submit_time": at("13:09:56"),
        "eligible_time": at("13:09:56"), "start_time": at("13:09:56"), "end_time": None,
        "time_limit": None, "num_nodes": 1, "num_tasks": 1, "cpus_per_task": 1, "num_cpus": 1,
        "mem_per_node": 100, "mem_per_cpu": None, "min_memory_node": 100, "gpus_per_node": 0,
        "gpu_type": None, "tres_per_node": None, "req_nodes": [], "exc_nodes": [],
        "nodes": ["vm"], "batch_host": "vm", "alloc_gpus": {}, "exit_code": 0, "exit_signal": 0,
        "cancelled_by": None, "batch_step": None, "work_dir": "/tmp/corral-ref",
        "stdout": "/dev/null", "stderr": "/dev/null", "stdin": "/dev/null", "command": None,
        "submit_host": "localhost", "alloc_sid": 2430, "dependency": None,
        "estimated_start": None,
    }
    record.update(overrides)
    return record


def make_node(**overrides: Any) -> dict[str, Any]:
    """A node record: node vm of 13_scontrol_show_node.txt."""
    record: dict[str, Any] = {
        "name": "vm", "state": "ALLOCATED", "reason": None, "cpus": 2, "memory": 24105,
        "gpus": 0, "gpu_type": None, "alloc_cpus": 2, "alloc_memory": 150, "alloc_gpus": 0,
        "free_memory": 23757, "cpu_load": 0.0, "partitions": ["debug"], "addr": "127.0.0.1",
        "hostname": "vm", "arch": "x86_64", "os": "Linux 6.18.44-fc-v595 #1 SMP PREEMPT_DYNAMIC @0",
        "version": "22.05.8", "boot_time": at("11:01:38"), "agent_start_time": at("11:13:20"),
        "last_busy_time": at("12:25:32"), "features": [], "sockets": 1, "cores_per_socket": 2,
        "threads_per_core": 1, "responding": True,
    }
    record.update(overrides)
    return record


def make_partition(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "name": "debug", "default": True, "nodes": ["vm"], "max_time": None,
        "default_time": None, "max_nodes": None, "state": "UP", "total_cpus": 2,
        "total_nodes": 1,
    }
    record.update(overrides)
    return record


RUNNING_2450 = """\
JobId=2450 JobName=wrap
   UserId=root(0) GroupId=root(0) MCS_label=N/A
   Priority=1 Nice=0 Account=root QOS=normal
   JobState=RUNNING Reason=None Dependency=(null)
   Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0
   RunTime=00:00:02 TimeLimit=UNLIMITED TimeMin=N/A
   SubmitTime=2026-11-22T13:09:56 EligibleTime=2026-11-22T13:09:56
   AccrueTime=2026-11-22T13:09:56
   StartTime=2026-11-22T13:09:56 EndTime=Unknown Deadline=N/A
   SuspendTime=None SecsPreSuspend=0 LastSchedEval=2026-11-22T13:09:56 Scheduler=Main
   Partition=debug AllocNode:Sid=localhost:2430
   ReqNodeList=(null) ExcNodeList=(null)
   NodeList=vm
   BatchHost=vm
   NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:*
   TRES=cpu=1,mem=100M,node=1,billing=1
   Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=*
   MinCPUsNode=1 MinMemoryNode=100M MinTmpDiskNode=0
   Features=(null) DelayBoot=00:00:00
   OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null)
   Command=(null)
   WorkDir=/tmp/corral-ref
   StdErr=/dev/null
   StdIn=/dev/null
   StdOut=/dev/null
   Power=
   

"""

PENDING_2452 = """\
JobId=2452 JobName=pend_res
   UserId=root(0) GroupId=root(0) MCS_label=N/A
   Priority=1 Nice=0 Account=root QOS=normal
   JobState=PENDING Reason=None Dependency=(null)
   Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0
   RunTime=00:00:00 TimeLimit=UNLIMITED TimeMin=N/A
   SubmitTime=2026-11-22T13:09:56 EligibleTime=2026-11-22T13:09:56
   AccrueTime=2026-11-22T13:09:56
   StartTime=Unknown EndTime=Unknown Deadline=N/A
   SuspendTime=None SecsPreSuspend=0 LastSchedEval=2026-11-22T13:09:57 Scheduler=Backfill:*
   Partition=debug AllocNode:Sid=localhost:2430
   ReqNodeList=(null) ExcNodeList=(null)
   NodeList=
   NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:*
   TRES=cpu=1,mem=100M,node=1,billing=1
   Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=*
   MinCPUsNode=1 MinMemoryNode=100M MinTmpDiskNode=0
   Features=(null) DelayBoot=00:00:00
   OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null)
   Command=(null)
   WorkDir=/tmp/corral-ref
   StdErr=/dev/null
   StdIn=/dev/null
   StdOut=/dev/null
   Power=
   

"""

ONE_LINER_2450 = (
    "JobId=2450 JobName=wrap UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=1 Nice=0 "
    "Account=root QOS=normal JobState=RUNNING Reason=None Dependency=(null) Requeue=1 "
    "Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:02 TimeLimit=UNLIMITED "
    "TimeMin=N/A SubmitTime=2026-11-22T13:09:56 EligibleTime=2026-11-22T13:09:56 "
    "AccrueTime=2026-11-22T13:09:56 StartTime=2026-11-22T13:09:56 EndTime=Unknown "
    "Deadline=N/A SuspendTime=None SecsPreSuspend=0 LastSchedEval=2026-11-22T13:09:56 "
    "Scheduler=Main Partition=debug AllocNode:Sid=localhost:2430 ReqNodeList=(null) "
    "ExcNodeList=(null) NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 "
    "ReqB:S:C:T=0:0:*:* TRES=cpu=1,mem=100M,node=1,billing=1 Socks/Node=* "
    "NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=100M MinTmpDiskNode=0 "
    "Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) "
    "Network=(null) Command=(null) WorkDir=/tmp/corral-ref StdErr=/dev/null StdIn=/dev/null "
    "StdOut=/dev/null Power= \n"
)

NODE_VM = """\
NodeName=vm Arch=x86_64 CoresPerSocket=2 
   CPUAlloc=2 CPUEfctv=2 CPUTot=2 CPULoad=0.00
   AvailableFeatures=(null)
   ActiveFeatures=(null)
   Gres=(null)
   NodeAddr=127.0.0.1 NodeHostName=vm Version=22.05.8
   OS=Linux 6.18.44-fc-v595 #1 SMP PREEMPT_DYNAMIC @0 
   RealMemory=24105 AllocMem=150 FreeMem=23757 Sockets=1 Boards=1
   State=ALLOCATED ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A
   Partitions=debug 
   BootTime=2026-11-22T11:01:38 SlurmdStartTime=2026-11-22T11:13:20
   LastBusyTime=2026-11-22T12:25:32
   CfgTRES=cpu=2,mem=24105M,billing=2
   AllocTRES=cpu=2,mem=150M
   CapWatts=n/a
   CurrentWatts=0 AveWatts=0
   ExtSensorsJoules=n/s ExtSensorsWatts=0 ExtSensorsTemp=n/s

"""

PARTITION_DEBUG = """\
PartitionName=debug
   AllowGroups=ALL AllowAccounts=ALL AllowQos=ALL
   AllocNodes=ALL Default=YES QoS=N/A
   DefaultTime=NONE DisableRootJobs=NO ExclusiveUser=NO GraceTime=0 Hidden=NO
   MaxNodes=UNLIMITED MaxTime=UNLIMITED MinNodes=0 LLN=NO MaxCPUsPerNode=UNLIMITED
   Nodes=vm
   PriorityJobFactor=1 PriorityTier=1 RootOnly=NO ReqResv=NO OverSubscribe=NO
   OverTimeLimit=NONE PreemptMode=OFF
   State=UP TotalCPUs=2 TotalNodes=1 SelectTypeParameters=NONE
   JobDefaults=(null)
   DefMemPerNode=UNLIMITED MaxMemPerNode=UNLIMITED
   TRES=cpu=2,mem=24105M,node=1,billing=2

"""


def grep(text: str, *words: str) -> list[str]:
    return [line for line in text.splitlines() if any(word in line for word in words)]


# ---------------------------------------------------------------------------- show job


def test_running_job_matches_the_transcript_byte_for_byte() -> None:
    assert fmt.format_job(make_job(), now=at("13:09:58"), tz=UTC) == RUNNING_2450


def test_pending_job_has_no_batch_host_and_unknown_start_and_end() -> None:
    job = make_job(job_id=2452, name="pend_res", state="PENDING", start_time=None,
                   nodes=[], batch_host=None, last_sched_eval=at("13:09:57"))
    assert fmt.format_job(job, now=at("13:10:30"), tz=UTC) == PENDING_2452


def test_one_liner_ends_with_a_space_and_a_single_newline() -> None:
    assert fmt.format_job(make_job(), at("13:09:58"), UTC, one_liner=True) == ONE_LINER_2450


def test_cancelled_running_job_shows_the_signal_in_exit_code() -> None:
    job = make_job(state="CANCELLED", end_time=at("13:10:00"), exit_signal=15, cancelled_by=0)
    text = fmt.format_job(job, at("13:20:00"), UTC)
    assert grep(text, "JobState", "ExitCode") == [
        "   JobState=CANCELLED Reason=None Dependency=(null)",
        "   Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:15",
    ]


def test_timeout_job_shows_run_time_limit_and_reason() -> None:
    job = make_job(job_id=2449, state="TIMEOUT", reason="TimeLimit", time_limit=1,
                   end_time=at("13:11:20"), exit_signal=15)
    text = fmt.format_job(job, at("13:20:00"), UTC)
    assert grep(text, "JobState", "ExitCode", "TimeLimit", "RunTime") == [
        "   JobState=TIMEOUT Reason=TimeLimit Dependency=(null)",
        "   Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:15",
        "   RunTime=00:01:24 TimeLimit=00:01:00 TimeMin=N/A",
    ]


def test_failed_job_shows_exit_status_and_reason() -> None:
    job = make_job(job_id=2467, state="FAILED", reason="NonZeroExitCode", exit_code=3,
                   end_time=at("13:10:00"))
    assert grep(fmt.format_job(job, at("13:20:00"), UTC), "JobState", "ExitCode") == [
        "   JobState=FAILED Reason=NonZeroExitCode Dependency=(null)",
        "   Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=3:0",
    ]


def test_job_without_mem_takes_the_whole_node_in_tres_but_min_memory_stays_zero() -> None:
    job = make_job(job_id=2486, mem_per_node=24105, min_memory_node=0)
    assert grep(fmt.format_job(job, at("13:20:00"), UTC), "TRES", "MinMemory") == [
        "   TRES=cpu=1,mem=24105M,node=1,billing=1",
        "   MinCPUsNode=1 MinMemoryNode=0 MinTmpDiskNode=0",
    ]


def test_running_job_with_a_limit_ends_at_start_plus_limit() -> None:
    text = fmt.format_job(make_job(time_limit=90), at("13:10:00"), UTC)
    assert "   StartTime=2026-11-22T13:09:56 EndTime=2026-11-22T14:39:56 Deadline=N/A" in text


def test_pending_job_shows_the_estimated_start_when_known() -> None:
    job = make_job(state="PENDING", start_time=None, nodes=[], batch_host=None,
                   estimated_start=at("14:00:00"), reason="Resources")
    text = fmt.format_job(job, at("13:10:00"), UTC)
    assert "   StartTime=2026-11-22T14:00:00 EndTime=Unknown Deadline=N/A" in text
    assert "   JobState=PENDING Reason=Resources Dependency=(null)" in text


def test_gpu_job_adds_gres_tres_and_a_tres_per_node_line_after_power() -> None:
    job = make_job(gpus_per_node=2, tres_per_node="gres:gpu:2", num_nodes=2, num_cpus=2,
                   nodes=["n1", "n2"])
    text = fmt.format_job(job, at("13:10:00"), UTC)
    assert "   TRES=cpu=2,mem=200M,node=2,billing=2,gres/gpu=4\n" in text
    assert "   NodeList=n[1-2]\n" in text
    assert text.endswith("   Power=\n   TresPerNode=gres:gpu:2\n   \n\n")


def test_mem_per_cpu_job_shows_min_memory_cpu() -> None:
    text = fmt.format_job(make_job(mem_per_cpu=2048), at("13:10:00"), UTC)
    assert "   MinCPUsNode=1 MinMemoryCPU=2G MinTmpDiskNode=0\n" in text


def test_array_task_names_its_array_job_and_throttle() -> None:
    job = make_job(job_id=2455, name="arr", array_job_id=2454, array_task_id=1,
                   array_max_tasks=2)
    first = fmt.format_job(job, at("13:10:00"), UTC).splitlines()[0]
    assert first == "JobId=2455 ArrayJobId=2454 ArrayTaskId=1 ArrayTaskThrottle=2 JobName=arr"


def test_exclusive_job_does_not_oversubscribe_and_script_job_shows_command() -> None:
    text = fmt.format_job(make_job(exclusive=True, command="/home/a/job.sh"), at("13:10:00"))
    assert "   OverSubscribe=NO Contiguous=0 Licenses=(null) Network=(null)\n" in text
    assert "   Command=/home/a/job.sh\n" in text


# ---------------------------------------------------------------------------- show node


def test_node_matches_the_transcript_byte_for_byte() -> None:
    assert fmt.format_node(make_node(), tz=UTC) == NODE_VM


@pytest.mark.parametrize(("overrides", "state"), [
    ({"state": "IDLE", "alloc_cpus": 0}, "IDLE"),
    ({"state": "MIXED", "alloc_cpus": 1}, "MIXED"),
    ({"state": "DOWN", "alloc_cpus": 0, "responding": False}, "DOWN*"),
    ({"state": "DRAINED", "alloc_cpus": 0}, "IDLE+DRAIN"),
    ({"state": "DRAINING", "alloc_cpus": 1}, "MIXED+DRAIN"),
    ({"state": "DRAINING", "alloc_cpus": 2}, "ALLOCATED+DRAIN"),
    ({"state": "DRAINED", "alloc_cpus": 0, "responding": False}, "IDLE*+DRAIN"),
])
def test_node_state_spelling(overrides: dict[str, Any], state: str) -> None:
    assert fmt.node_state(make_node(**overrides)) == state


def test_gpu_node_shows_gres_and_gpu_tres() -> None:
    node = make_node(gpus=4, gpu_type="a100", alloc_gpus=1)
    text = fmt.format_node(node, tz=UTC)
    assert "   Gres=gpu:a100:4\n" in text
    assert "   CfgTRES=cpu=2,mem=24105M,billing=2,gres/gpu=4\n" in text
    assert "   AllocTRES=cpu=2,mem=150M,gres/gpu=1\n" in text
    assert fmt.node_gres(make_node(gpus=2)) == "gpu:2"


def test_idle_node_has_empty_alloc_tres() -> None:
    text = fmt.format_node(make_node(state="IDLE", alloc_cpus=0, alloc_memory=0), tz=UTC)
    assert "   CPUAlloc=0 CPUEfctv=2 CPUTot=2 CPULoad=0.00\n" in text
    assert "   AllocTRES=\n" in text


def test_drained_node_adds_a_reason_line_with_who_and_when() -> None:
    node = make_node(state="DRAINED", alloc_cpus=0, alloc_memory=0, reason="maint",
                     reason_user="root", reason_time=at("13:00:00"))
    text = fmt.format_node(node, tz=UTC)
    assert text.endswith("ExtSensorsTemp=n/s\n   Reason=maint [root@2026-11-22T13:00:00]\n\n")
    assert "   State=IDLE+DRAIN ThreadsPerCore=1" in text


def test_node_one_liner_is_a_single_line() -> None:
    text = fmt.format_node(make_node(), tz=UTC, one_liner=True)
    assert text.count("\n") == 1
    assert text.startswith("NodeName=vm Arch=x86_64 CoresPerSocket=2  CPUAlloc=2 ")


# ---------------------------------------------------------------------------- partition, config


def test_partition_matches_the_transcript_byte_for_byte() -> None:
    assert fmt.format_partition(make_partition(), [make_node()]) == PARTITION_DEBUG


def test_partition_with_limits_and_gpus() -> None:
    part = make_partition(default=False, max_time=60, default_time=30, max_nodes=2)
    text = fmt.format_partition(part, [make_node(gpus=2)])
    assert "   AllocNodes=ALL Default=NO QoS=N/A\n" in text
    assert "   DefaultTime=00:30:00 DisableRootJobs=NO" in text
    assert "   MaxNodes=2 MaxTime=01:00:00 MinNodes=0" in text
    assert text.endswith("TRES=cpu=2,mem=24105M,node=1,billing=2,gres/gpu=2\n\n")


def test_config_lines_match_the_transcript_sorted_case_insensitively() -> None:
    expected = [
        "AccountingStorageType   = accounting_storage/slurmdbd",
        "DefMemPerNode           = UNLIMITED",
        "FirstJobId              = 1",
        "InactiveLimit           = 0 sec",
        "KillWait                = 30 sec",
        "MaxArraySize            = 1001",
        "MinJobAge               = 300 sec",
        "SchedulerParameters     = (null)",
        "SelectType              = select/cons_tres",
        "SelectTypeParameters    = CR_CORE_MEMORY",
        "SLURM_VERSION           = 22.05.8",
        "TaskPlugin              = task/cgroup,task/affinity",
    ]
    config = {line.split(" = ")[0].strip(): line.split(" = ")[1] for line in expected}
    config["SchedulerParameters"] = None  # type: ignore[assignment]
    config["TaskPlugin"] = ["task/cgroup", "task/affinity"]  # type: ignore[assignment]
    text = fmt.format_config(dict(reversed(config.items())), now=at("13:20:00"), tz=UTC)
    lines = text.splitlines()
    assert lines[0] == "Configuration data as of 2026-11-22T13:20:00"
    assert lines[1:] == expected


def test_ping_line() -> None:
    assert fmt.ping_line("vm", True) == "Slurmctld(primary) at vm is UP"
    assert fmt.ping_line("vm", False) == "Slurmctld(primary) at vm is DOWN"


# ---------------------------------------------------------------------------- arguments


def test_oneliner_flag_is_accepted_after_the_command_words() -> None:
    inv = parse_args(["show", "job", "-o", "2450"])
    assert inv.one_liner and inv.words == ["show", "job", "2450"]


def test_version_flag_replaces_the_command() -> None:
    assert parse_args(["-V"]).words == ["version"]
    assert parse_args(["--version"]).words == ["version"]


def test_unknown_option_is_worded_as_getopt_does() -> None:
    with pytest.raises(OptionError, match="scontrol: unrecognized option '--bogus'"):
        parse_args(["--bogus", "show", "job"])


def test_keywords_may_be_abbreviated_but_not_too_far() -> None:
    assert keyword("sh", "show", 2) and keyword("SHOW", "show", 3)
    assert not keyword("s", "show", 3)
    assert not keyword("shop", "show", 3)


def test_job_ids_take_lists_and_prefixes() -> None:
    assert job_ids(["12", "13,14", "JobId=15", "job=16"]) == ["12", "13", "14", "15", "16"]


def test_controller_host_comes_from_the_url_or_is_this_host() -> None:
    assert controller_host("http://ctl.example:6817") == "ctl.example"
    assert controller_host("/run/corral.sock")


# ---------------------------------------------------------------------------- commands


class FakeClient:
    """Stands in for corral.client.Client: canned replies, and a log of the calls."""

    def __init__(self, jobs: list[dict[str, Any]] | None = None,
                 nodes: list[dict[str, Any]] | None = None, fail: ClientError | None = None,
                 unreachable: bool = False) -> None:
        self.address = "http://ctl:6817"
        self._jobs = jobs or []
        self._nodes = nodes or []
        self.fail = fail
        self.unreachable = unreachable
        self.calls: list[tuple[Any, ...]] = []

    def _check(self) -> None:
        if self.fail is not None:
            raise self.fail

    def job(self, job_id: str) -> dict[str, Any]:
        self.calls.append(("job", job_id))
        self._check()
        for job in self._jobs:
            if str(job["job_id"]) == str(job_id):
                return job
        raise ClientError(404, "Invalid job id specified")

    def jobs(self) -> list[dict[str, Any]]:
        return self._jobs

    def nodes(self) -> list[dict[str, Any]]:
        return self._nodes

    def partitions(self) -> list[dict[str, Any]]:
        return [make_partition()]

    def config(self) -> dict[str, Any]:
        return {"MinJobAge": "300 sec"}

    def ping(self) -> dict[str, Any]:
        if self.unreachable:
            raise ControllerUnreachable(self.address, "ConnectionRefusedError")
        return {"status": "UP", "controller": "vm"}

    def hold(self, job_id: str) -> None:
        self.calls.append(("hold", job_id))
        self._check()

    def release(self, job_id: str) -> None:
        self.calls.append(("release", job_id))
        self._check()

    def requeue(self, job_id: str) -> None:
        self.calls.append(("requeue", job_id))
        self._check()

    def update_job(self, job_id: str, fields: dict[str, Any]) -> None:
        self.calls.append(("update_job", job_id, fields))
        self._check()

    def update_node(self, name: str, fields: dict[str, Any]) -> None:
        self.calls.append(("update_node", name, fields))
        self._check()


def run(client: FakeClient, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = Scontrol(client, parse_args(argv), out, err,  # type: ignore[arg-type]
                    now=lambda: at("13:09:58")).run()
    return code, out.getvalue(), err.getvalue()


def test_show_job_of_an_unknown_id_fails_with_slurms_message() -> None:
    assert run(FakeClient(), "show", "job", "999999") == (
        1, "", "slurm_load_jobs error: Invalid job id specified\n")


def test_show_job_without_jobs_says_so() -> None:
    assert run(FakeClient(), "show", "job") == (0, "No jobs in the system\n", "")


def test_show_job_prints_each_record_followed_by_a_blank_line() -> None:
    code, out, _ = run(FakeClient(jobs=[make_job(), make_job(job_id=2451)]), "show", "jobs")
    assert code == 0
    assert out.count("\n\n") == 2 and out.startswith("JobId=2450 JobName=wrap\n")


def test_show_unknown_node_and_partition_fail() -> None:
    assert run(FakeClient(nodes=[make_node()]), "show", "node", "nope") == (
        1, "Node nope not found\n", "")
    assert run(FakeClient(), "show", "partition", "nope") == (1, "Partition nope not found\n", "")


def test_show_hostnames_expands_a_hostlist() -> None:
    assert run(FakeClient(), "show", "hostnames", "n[1-3]") == (0, "n1\nn2\nn3\n", "")


def test_ping_reports_up_and_down() -> None:
    assert run(FakeClient(), "ping") == (0, "Slurmctld(primary) at vm is UP\n", "")
    assert run(FakeClient(unreachable=True), "ping") == (
        1, "Slurmctld(primary) at ctl is DOWN\n", "")


def test_version_prints_the_debian_package_name() -> None:
    assert run(FakeClient(), "version") == (0, "slurm-wlm 22.05.8\n", "")


def test_hold_release_and_requeue_take_several_ids() -> None:
    client = FakeClient()
    assert run(client, "hold", "1,2")[0] == 0
    assert run(client, "release", "3", "4")[0] == 0
    assert run(client, "requeue", "JobId=5")[0] == 0
    assert run(client, "uhold", "6")[0] == 0
    assert client.calls == [("hold", "1"), ("hold", "2"), ("release", "3"), ("release", "4"),
                            ("requeue", "5"), ("hold", "6")]


def test_refused_hold_names_the_job_as_slurm_does() -> None:
    assert run(FakeClient(fail=ClientError(404, "gone")), "hold", "999999") == (
        1, "", "Invalid job id specified for job 999999\n")
    assert run(FakeClient(fail=ClientError(403, "no")), "release", "7") == (
        1, "", "Access/permission denied for job 7\n")


def test_update_job_sends_time_limit_name_and_nice() -> None:
    client = FakeClient()
    code, _, err = run(client, "update", "JobId=12", "TimeLimit=1:30:00", "Name=x", "Nice=5")
    assert (code, err) == (0, "")
    assert client.calls == [("update_job", "12", {"time_limit": 90, "name": "x", "nice": 5})]


def test_update_job_keys_are_case_insensitive_and_unlimited_is_none() -> None:
    client = FakeClient()
    assert run(client, "update", "jobid=12", "timelimit=UNLIMITED")[0] == 0
    assert client.calls == [("update_job", "12", {"time_limit": None})]


def test_update_job_time_limit_increment_adds_to_the_current_limit() -> None:
    client = FakeClient(jobs=[make_job(job_id=12, time_limit=60)])
    assert run(client, "update", "JobId=12", "TimeLimit=+30")[0] == 0
    assert client.calls[-1] == ("update_job", "12", {"time_limit": 90})


def test_update_job_with_a_bad_time_limit_is_refused() -> None:
    from corral.cli.common.runner import CommandError
    with pytest.raises(CommandError, match="Invalid TimeLimit value"):
        run(FakeClient(), "update", "JobId=12", "TimeLimit=bogus")


def test_update_job_with_an_unsupported_key_is_aborted() -> None:
    assert run(FakeClient(), "update", "JobId=12", "Color=red") == (
        1, "", "Update of this parameter is not supported: Color=red\nRequest aborted\n")


def test_update_refused_by_the_controller_names_the_job() -> None:
    client = FakeClient(fail=ClientError(403, "Access/permission denied"))
    assert run(client, "update", "JobId=12", "TimeLimit=5") == (
        1, "", "Access/permission denied for job 12\n")


def test_drain_without_reason_is_denied() -> None:
    client = FakeClient()
    assert run(client, "update", "NodeName=vm", "State=DRAIN") == (
        1, "", "You must specify a reason when DOWNING or DRAINING a node. Request denied\n")
    assert client.calls == []


def test_drain_of_a_hostlist_updates_every_node() -> None:
    client = FakeClient()
    assert run(client, "update", "NodeName=n[1-2]", "State=drain", 'Reason="disk swap"')[0] == 0
    assert client.calls == [("update_node", "n1", {"state": "DRAIN", "reason": "disk swap"}),
                            ("update_node", "n2", {"state": "DRAIN", "reason": "disk swap"})]


def test_resume_and_undrain_need_no_reason() -> None:
    client = FakeClient()
    assert run(client, "update", "nodename=vm", "state=resume")[0] == 0
    assert run(client, "update", "NodeName=vm", "State=UNDRAIN")[0] == 0
    assert [c[2] for c in client.calls] == [{"state": "RESUME"}, {"state": "UNDRAIN"}]


def test_bad_node_state_lists_the_valid_ones() -> None:
    code, _, err = run(FakeClient(), "update", "NodeName=vm", "State=SLEEPY")
    assert code == 1 and err.startswith("Invalid input: State=SLEEPY\nRequest aborted\n")


def test_refused_node_update_uses_slurm_update_error() -> None:
    client = FakeClient(fail=ClientError(404, "Invalid node name specified"))
    assert run(client, "update", "NodeName=zz", "State=RESUME") == (
        1, "", "slurm_update error: Invalid node name specified\n")


def test_update_without_an_entity_is_refused() -> None:
    code, _, err = run(FakeClient(), "update", "Foo=1")
    assert code == 1 and err.startswith("No valid entity in update command\n")


def test_unknown_command_is_an_invalid_keyword() -> None:
    assert run(FakeClient(), "frobnicate") == (1, "", "invalid keyword: frobnicate\n")


def test_recorded_time_min_and_deadline_are_shown_as_slurm_shows_them() -> None:
    text = fmt.format_job(make_job(time_limit=120, time_min=30, deadline=at("18:00:00")),
                          at("13:10:00"), UTC)
    assert "TimeLimit=02:00:00 TimeMin=00:30:00" in text
    assert "Deadline=2026-11-22T18:00:00" in text
    plain = fmt.format_job(make_job(), at("13:10:00"), UTC)
    assert "TimeMin=N/A" in plain and "Deadline=N/A" in plain
