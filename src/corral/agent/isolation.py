"""A job's isolation on this node: its cgroup, the CPU ids it may use, the GPUs it may open.

Each job gets `job_N` under this agent's subtree of the hierarchy (see cgroups.py), holding
the job's limits: --mem as the memory limit, its cores as the cpuset, a pids limit, and (v1)
the other GPUs' device files denied. Its batch script runs in `job_N/step_batch`, srun steps
in `job_N/step_M`, so one kill of `job_N` ends every process of the job.

CPU ids: the controller allocates a count; the node picks the ids. A job gets the lowest
usable CPU ids that no other running job of this node holds (Slurm's default block
placement); where a node declares more CPUs than the machine has (test and lab setups), the
least used ids are shared. The choice is made under a lock and kept, with the cgroup's paths,
in `.isolation/JOB.ATTEMPT.json` under the jobs directory: a restarted agent, or a step of the
same job, finds it there.

Without usable cgroups the job still gets its CPU ids as its affinity, and the supervisor
polls the job's memory (as Slurm's OverMemoryKill) and kills its process tree.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral.agent import cgroups
from corral.agent.cgroups import Cgroup, Hierarchy, Limits
from corral.agent.jobdir import PRIVATE, make_dir, read_json, write_json_atomic

RECORDS = ".isolation"


def instance_name(node: str, jobs_dir: Path) -> str:
    """This agent's subtree: its node name and state directory, so that agents sharing a
    machine (tests, `corral up --nodes 3`) never meet in the hierarchy."""
    digest = hashlib.sha1(str(jobs_dir.resolve()).encode()).hexdigest()[:8]
    return f"{node}-{digest}"


def default_pids_max(cpus: int) -> int:
    # Enough for thread-heavy runtimes (JVMs, BLAS pools), low enough to stop a fork bomb.
    return max(4096, 512 * cpus)


@dataclass
class JobIsolation:
    job_id: int
    attempt: int
    cpus: tuple[int, ...]
    memory_bytes: int | None
    mode: str                        # "cgroup/v1", "cgroup/v2", or why there is none
    group: Cgroup | None = None      # job_N
    devices_enforced: bool = False   # other GPUs' device files are denied

    @property
    def memory_enforced(self) -> bool:
        if self.group is None or not self.memory_bytes:
            return False
        return "memory" in self.group.controllers()

    def enforced(self) -> list[str]:
        if self.group is None:
            return []
        return list(self.group.controllers())


def _record_path(jobs_dir: Path, job_id: int, attempt: int) -> Path:
    return jobs_dir / RECORDS / f"{job_id}.{attempt}.json"


@contextlib.contextmanager
def _locked(jobs_dir: Path) -> Iterator[None]:
    folder = jobs_dir / RECORDS
    make_dir(folder, 0o700, exist_ok=True)
    lock = os.open(folder / "lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)  # closing the last descriptor releases the lock


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2:].split()[19].decode()


def _me() -> dict[str, Any]:
    return {"pid": os.getpid(), "start": _start_time(os.getpid())}


def _alive(user: dict[str, Any]) -> bool:
    """The process still runs (its start time guards against a reused pid)."""
    pid = user.get("pid")
    if not pid:
        return False
    return _start_time(int(pid)) == user.get("start")


def _in_use(data: dict[str, Any]) -> bool:
    return any(_alive(u) for u in data.get("users") or ())


def _records(jobs_dir: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    folder = jobs_dir / RECORDS
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.json")):
        data = read_json(path)
        if isinstance(data, dict):
            yield path, data


def choose_cpus(count: int, usable: list[int], held: list[tuple[int, ...]]) -> tuple[int, ...]:
    """The lowest `count` usable ids no one holds; when too few are free, the least used."""
    uses = dict.fromkeys(usable, 0)
    for cpus in held:
        for cpu in cpus:
            if cpu in uses:
                uses[cpu] += 1
    ranked = sorted(usable, key=lambda cpu: (uses[cpu], cpu))
    return tuple(sorted(ranked[:max(1, min(count, len(ranked)))]))


def usable_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def _job_from_record(data: dict[str, Any]) -> JobIsolation:
    group = cgroups.reopen(data["cgroup"]) if data.get("cgroup") else None
    return JobIsolation(int(data["job_id"]), int(data["attempt"]), tuple(data["cpus"]),
                        data.get("memory_bytes"), str(data["mode"]), group,
                        bool(data.get("devices_enforced")))


def open_job(jobs_dir: Path, node: str, job_id: int, attempt: int, *, cpus: int,
             memory_mb: int | None, denied_devices: tuple[tuple[str, int, int], ...] = (),
             pids_max: int | None = None, hierarchy: tuple[Hierarchy | None, str] | None = None,
             ) -> JobIsolation:
    """The job's isolation on this node, made on first call (idempotent per job and attempt).

    Every supervisor of the job on this node (batch, steps) is recorded as a user. The batch
    supervisor's `close_job` ends the job here; where a job has only steps on this node, the
    last step to `leave_job` does.
    """
    with _locked(jobs_dir):
        path = _record_path(jobs_dir, job_id, attempt)
        existing = read_json(path)
        if isinstance(existing, dict):
            users = [u for u in existing.get("users") or () if _alive(u)]
            write_json_atomic(path, {**existing, "users": [*users, _me()]})
            return _job_from_record(existing)
        held = [tuple(d.get("cpus") or ()) for _, d in _records(jobs_dir) if _in_use(d)]
        chosen = choose_cpus(cpus, usable_cpus(), held)
        memory_bytes = memory_mb * 1024 * 1024 if memory_mb else None
        found, mode = hierarchy if hierarchy is not None else cgroups.detect(
            instance_name(node, jobs_dir))
        group: Cgroup | None = None
        devices_enforced = False
        if found is not None:
            limits = Limits(memory_bytes=memory_bytes, cpus=chosen,
                            pids_max=pids_max or default_pids_max(cpus),
                            denied_devices=denied_devices)
            try:
                group = found.create(f"job_{job_id}", limits)
                devices_enforced = bool(denied_devices) and "devices" in group.controllers()
            except OSError as exc:
                mode = f"no cgroup ({mode}: {exc.strerror or exc})"
                group = None
        else:
            mode = f"no cgroup ({mode})"
        job = JobIsolation(job_id, attempt, chosen, memory_bytes, mode, group, devices_enforced)
        write_json_atomic(path, {
            "job_id": job_id, "attempt": attempt, "cpus": list(chosen),
            "memory_bytes": memory_bytes, "mode": mode, "devices_enforced": devices_enforced,
            "cgroup": group.to_record() if group is not None else None, "users": [_me()]})
        return job


def enter(job: JobIsolation, step: Cgroup | None) -> None:
    """In a forked child, before exec: join the step's cgroup and take the job's CPUs.

    Affinity is set even under a cpuset: without one it is the only CPU binding there is.
    """
    if step is not None:
        step.attach(os.getpid())
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, job.cpus)


def open_step(job: JobIsolation, name: str,
              denied_devices: tuple[tuple[str, int, int], ...] = ()) -> Cgroup | None:
    """The cgroup of one step of the job (`batch`, or an srun step number), made on demand.

    It holds no limits of its own: the job's memory, cpuset and pids limits apply to all its
    steps together. `denied_devices` are the job's GPUs the step was not given (v1)."""
    if job.group is None:
        return None
    limits = Limits(denied_devices=denied_devices) if denied_devices else None
    try:
        return job.group.child(f"step_{name}", limits)
    except OSError:
        return None


def close_step(step: Cgroup | None) -> None:
    """Kills what is left of a step and removes its cgroup (the job's stays)."""
    if step is None:
        return
    with contextlib.suppress(OSError):
        step.kill()
    with contextlib.suppress(OSError):
        step.remove()


def close_job(jobs_dir: Path, job: JobIsolation) -> None:
    """The job is over on this node: nothing of it may stay, and its CPUs are free again."""
    _end_group(job)
    with _locked(jobs_dir):
        _forget(jobs_dir, job)


def _end_group(job: JobIsolation) -> None:
    if job.group is not None:
        with contextlib.suppress(OSError):
            job.group.kill()
        with contextlib.suppress(OSError):
            job.group.remove()


def _forget(jobs_dir: Path, job: JobIsolation) -> None:
    """Under the lock: the job's record goes, and this agent's subtree if no job is left."""
    with contextlib.suppress(FileNotFoundError):
        _record_path(jobs_dir, job.job_id, job.attempt).unlink()
    if job.group is not None:
        for directory in job.group.dirs.values():
            with contextlib.suppress(OSError):
                directory.parent.rmdir()


def leave_job(jobs_dir: Path, job: JobIsolation) -> None:
    """A step supervisor is done with the job here; the job ends here with its last user."""
    with _locked(jobs_dir):
        path = _record_path(jobs_dir, job.job_id, job.attempt)
        data = read_json(path)
        if not isinstance(data, dict):
            return
        me = _me()
        users = [u for u in data.get("users") or () if _alive(u) and u != me]
        if users:
            write_json_atomic(path, {**data, "users": users})
            return
        # Still under the lock: a step of the job starting now finds no half-ended job.
        _end_group(job)
        _forget(jobs_dir, job)


def recover(jobs_dir: Path) -> list[tuple[int, int]]:
    """For an agent that (re)starts: the jobs whose supervisor is gone.

    Their cgroups are killed and removed and their CPUs released, so nothing of a job whose
    supervisor died stays running unseen; the caller reports those jobs as ended.
    Jobs whose supervisor still runs are left alone: they go on, and the supervisor reports.
    """
    lost = []
    for _, data in list(_records(jobs_dir)):
        if _in_use(data):
            continue
        job = _job_from_record(data)
        close_job(jobs_dir, job)
        lost.append((job.job_id, job.attempt))
    return lost
