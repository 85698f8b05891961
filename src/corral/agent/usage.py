"""What a job uses while it runs: memory, CPU time, GPU utilisation and memory, idle GPUs.

The supervisor samples every few seconds (Slurm's JobAcctGatherFrequency) and once at the
end. Memory is the job's resident anonymous memory as its cgroup counts it (or, without a
cgroup, the summed RSS of its processes); the peak is kept, and the largest single process's
peak from getrusage catches what happened between two samples. CPU time comes from the
cgroup (every process ever in it, even those nobody waited for), else from getrusage.

While the job runs, usage.json in its directory says what was seen last, and whether its
GPUs have been idle longer than allowed; the agent passes that on to the controller.
"""

from __future__ import annotations

import json
import os
import resource
from collections.abc import Callable
from pathlib import Path
from typing import Any

from corral.agent.cgroups import Cgroup
from corral.agent.gpus import GpuSampler

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def tree_rss_kb(pids: list[int]) -> int:
    """The summed resident memory of these processes (the no-cgroup fallback's measure)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as handle:
                total += int(handle.read().split()[1]) * PAGE_KB
        except (OSError, IndexError, ValueError):
            continue
    return total


class Sampler:
    def __init__(self, group: Cgroup | None, gpus: GpuSampler | None = None, *,
                 gpu_idle_after: float | None = None) -> None:
        self.group = group
        self.gpus = gpus
        self.gpu_idle_after = gpu_idle_after
        self.max_rss_kb = 0
        self.rss_kb = 0
        self.gpu_util_sum = 0.0
        self.gpu_samples = 0
        self.gpu_util_last: float | None = None
        self.gpu_mem_kb = 0
        self.gpu_idle_since: float | None = None

    def sample(self, now: float, pids: Callable[[], list[int]]) -> int:
        """Takes one sample; returns the job's memory now in KiB. `pids` lists the job's
        processes, for when there is no memory cgroup to ask."""
        rss = None
        if self.group is not None:
            try:
                rss = self.group.usage().rss_kb
            except OSError:
                rss = None
        if rss is None:
            rss = tree_rss_kb(pids())
        self.rss_kb = rss
        self.max_rss_kb = max(self.max_rss_kb, rss)
        if self.gpus is not None:
            seen = self.gpus.sample()
            if seen is not None:
                self.gpu_util_sum += seen.util
                self.gpu_samples += 1
                self.gpu_util_last = seen.util
                self.gpu_mem_kb = max(self.gpu_mem_kb, seen.memory_kb)
                if seen.util > 0:
                    self.gpu_idle_since = None
                elif self.gpu_idle_since is None:
                    self.gpu_idle_since = now
        return rss

    def gpu_idle(self, now: float) -> bool:
        return (self.gpu_idle_after is not None and self.gpu_idle_since is not None
                and now - self.gpu_idle_since >= self.gpu_idle_after)

    def _gpu_fields(self, now: float) -> dict[str, Any]:
        if not self.gpu_samples:
            return {}
        return {"gpu_util": round(self.gpu_util_sum / self.gpu_samples, 2),
                "gpu_mem_kb": self.gpu_mem_kb, "gpu_idle": self.gpu_idle(now)}

    def live(self, now: float) -> dict[str, Any]:
        return {"sampled_at": now, "rss_kb": self.rss_kb, "max_rss_kb": self.max_rss_kb,
                "gpu_util_now": self.gpu_util_last, "gpu_idle_since": self.gpu_idle_since,
                **self._gpu_fields(now)}

    def write_live(self, job_dir: Path, now: float) -> None:
        # Rewritten every few seconds and only ever a snapshot: renamed into place, not synced.
        tmp = job_dir / "usage.json.tmp"
        tmp.write_text(json.dumps(self.live(now)))
        os.replace(tmp, job_dir / "usage.json")

    def final(self, now: float) -> dict[str, Any]:
        """The job's totals for status.json, read after its last process ended."""
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        user, system = children.ru_utime, children.ru_stime
        peak = max(self.max_rss_kb, int(children.ru_maxrss))
        if self.group is not None:
            try:
                used = self.group.usage()
            except OSError:
                used = None
            if used is not None and used.cpu_s is not None:
                if used.user_cpu_s is not None and used.system_cpu_s is not None:
                    user, system = used.user_cpu_s, used.system_cpu_s
                total = max(used.cpu_s, user + system)
                return {"max_rss_kb": peak, "total_cpu_s": round(total, 3),
                        "user_cpu_s": round(user, 3), "system_cpu_s": round(system, 3),
                        **self._gpu_fields(now)}
        return {"max_rss_kb": peak, "total_cpu_s": round(user + system, 3),
                "user_cpu_s": round(user, 3), "system_cpu_s": round(system, 3),
                **self._gpu_fields(now)}
