"""Job states and pending reasons, in Slurm's spelling so tools that parse them keep working."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETING = "COMPLETING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    NODE_FAIL = "NODE_FAIL"
    PREEMPTED = "PREEMPTED"
    DEADLINE = "DEADLINE"
    BOOT_FAIL = "BOOT_FAIL"

    @property
    def is_terminal(self) -> bool:
        return self not in (JobState.PENDING, JobState.RUNNING, JobState.COMPLETING)

    @property
    def is_active(self) -> bool:
        """Holds resources on nodes."""
        return self in (JobState.RUNNING, JobState.COMPLETING)


TERMINAL_STATES = frozenset(s for s in JobState if s.is_terminal)

SHORT_STATE = {
    JobState.PENDING: "PD", JobState.RUNNING: "R", JobState.COMPLETING: "CG",
    JobState.COMPLETED: "CD", JobState.FAILED: "F", JobState.CANCELLED: "CA",
    JobState.TIMEOUT: "TO", JobState.OUT_OF_MEMORY: "OOM", JobState.NODE_FAIL: "NF",
    JobState.PREEMPTED: "PR", JobState.DEADLINE: "DL", JobState.BOOT_FAIL: "BF",
}


class Reason(StrEnum):
    """Why a job is pending (or why it ended), as squeue's %r prints it."""

    NONE = "None"
    PRIORITY = "Priority"
    RESOURCES = "Resources"
    DEPENDENCY = "Dependency"
    DEPENDENCY_NEVER_SATISFIED = "DependencyNeverSatisfied"
    HELD_USER = "JobHeldUser"
    HELD_ADMIN = "JobHeldAdmin"
    BEGIN_TIME = "BeginTime"
    REQ_NODE_NOT_AVAIL = "ReqNodeNotAvail"
    PARTITION_TIME_LIMIT = "PartitionTimeLimit"
    PARTITION_NODE_LIMIT = "PartitionNodeLimit"
    PARTITION_CONFIG = "PartitionConfig"
    NODE_DOWN = "NodeDown"
    NON_ZERO_EXIT_CODE = "NonZeroExitCode"
    TIME_LIMIT = "TimeLimit"
    JOB_LAUNCH_FAILURE = "JobLaunchFailure"
    OUT_OF_MEMORY = "OutOfMemory"
    DEADLINE = "DeadLine"
    # Partition and request problems found by the scheduling pass.
    PARTITION_DOWN = "PartitionDown"
    PARTITION_INACTIVE = "PartitionInactive"
    BAD_CONSTRAINTS = "BadConstraints"
    ACCOUNT_NOT_ALLOWED = "AccountNotAllowed"
    QOS_NOT_ALLOWED = "QOSNotAllowed"
    INVALID_ACCOUNT = "InvalidAccount"
    INVALID_QOS = "InvalidQOS"
    # Association limits (sacctmgr's MaxJobs, MaxWall, MaxTRES, GrpJobs, GrpTRES).
    ASSOC_MAX_JOBS = "AssocMaxJobsLimit"
    ASSOC_MAX_SUBMIT_JOBS = "AssocMaxSubmitJobLimit"
    ASSOC_MAX_WALL = "AssocMaxWallDurationPerJobLimit"
    ASSOC_MAX_CPU_PER_JOB = "AssocMaxCpuPerJobLimit"
    ASSOC_MAX_NODE_PER_JOB = "AssocMaxNodePerJobLimit"
    ASSOC_MAX_MEM_PER_JOB = "AssocMaxMemPerJob"
    ASSOC_MAX_GRES_PER_JOB = "AssocMaxGRESPerJob"
    ASSOC_GRP_JOBS = "AssocGrpJobsLimit"
    ASSOC_GRP_CPU = "AssocGrpCpuLimit"
    ASSOC_GRP_MEM = "AssocGrpMemLimit"
    ASSOC_GRP_NODE = "AssocGrpNodeLimit"
    ASSOC_GRP_GRES = "AssocGrpGRES"
    # QOS limits (MaxJobsPerUser, MaxTRESPerUser, MaxWall, MaxTRES, GrpJobs, GrpTRES).
    QOS_MAX_JOBS_PER_USER = "QOSMaxJobsPerUserLimit"
    QOS_MAX_SUBMIT_JOBS_PER_USER = "QOSMaxSubmitJobPerUserLimit"
    QOS_MAX_CPU_PER_USER = "QOSMaxCpuPerUserLimit"
    QOS_MAX_NODE_PER_USER = "QOSMaxNodePerUserLimit"
    QOS_MAX_MEM_PER_USER = "QOSMaxMemoryPerUser"
    QOS_MAX_GRES_PER_USER = "QOSMaxGRESPerUser"
    QOS_MAX_WALL = "QOSMaxWallDurationPerJobLimit"
    QOS_MAX_CPU_PER_JOB = "QOSMaxCpuPerJobLimit"
    QOS_MAX_NODE_PER_JOB = "QOSMaxNodePerJobLimit"
    QOS_MAX_MEM_PER_JOB = "QOSMaxMemoryPerJob"
    QOS_MAX_GRES_PER_JOB = "QOSMaxGRESPerJob"
    QOS_GRP_JOBS = "QOSGrpJobsLimit"
    QOS_GRP_CPU = "QOSGrpCpuLimit"
    QOS_GRP_MEM = "QOSGrpMemLimit"
    QOS_GRP_NODE = "QOSGrpNodeLimit"
    QOS_GRP_GRES = "QOSGrpGRES"
    # An array's --array=…%N throttle: N of its tasks already run.
    JOB_ARRAY_TASK_LIMIT = "JobArrayTaskLimit"
