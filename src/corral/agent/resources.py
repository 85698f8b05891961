"""What this node has: CPUs, memory, GPUs (found through NVML, or declared by flag), how its
jobs are isolated, and the facts sinfo and scontrol show."""

from __future__ import annotations

import os
import platform
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from corral import __version__
from corral.agent import cgroups
from corral.agent import gpus as nvidia
from corral.agent.isolation import instance_name, usable_cpus


@dataclass(frozen=True, slots=True)
class NodeFacts:
    name: str
    cpus: int
    memory: int
    gpus: int
    gpu_type: str | None
    hostname: str
    arch: str
    os: str
    boot_time: float
    version: str = __version__
    # The GPUs NVML found (index, uuid, name, type, memory_mb, minor, mig); empty when declared.
    gpu_devices: tuple[dict[str, Any], ...] = ()
    # How jobs are confined: "cgroup/v1", "cgroup/v2" or "none", and what is enforced.
    cgroup: str = ""
    enforced: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# Without cgroups: CPU affinity, the memory limit kept by polling, the process tree killed.
FALLBACK = "affinity,memory-poll,proctree-kill"


def isolation(name: str, jobs_dir: Path | None) -> tuple[str, str]:
    """("cgroup/v1" | "cgroup/v2" | "none (why)", what is enforced), probed for real."""
    hierarchy, why = cgroups.detect(instance_name(name, jobs_dir or Path.cwd()))
    if hierarchy is None:
        return f"none ({why})", FALLBACK
    working = cgroups.probe(hierarchy)
    if not working:
        return f"none ({hierarchy.describe()} not writable)", FALLBACK
    return hierarchy.describe(), ",".join(working)


def detect(name: str, *, cpus: int | None = None, memory_mb: int | None = None,
           gpus: int | None = None, gpu_type: str | None = None,
           gpu_devices: list[str] | None = None, jobs_dir: Path | None = None) -> NodeFacts:
    """The node as the agent will declare it; flags override what is detected.

    GPUs are looked for through NVML only when not declared: `--gpus N` (N may be 0) fakes
    N GPUs for tests and keeps NVML out of it. `--gpu-devices` names the machine's GPUs this
    node owns (a machine split into nodes): jobs get those physical devices and no other.
    Raises ValueError when the devices cannot be resolved or disagree with `--gpus`.
    """
    detected_cpus = len(usable_cpus()) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    detected_mem = psutil.virtual_memory().total // (1024 * 1024)
    uname = platform.uname()
    found: list[nvidia.GpuInfo] = []
    if (gpus is None or gpu_devices is not None) and nvidia.driver_present():
        found, _ = nvidia.discover()
    if gpu_devices is not None:
        found = nvidia.owned(found, gpu_devices, gpu_type)
        if gpus is not None and gpus != len(found):
            raise ValueError(f"--gpus {gpus} does not match --gpu-devices "
                             f"({len(found)} device(s))")
        gpus = len(found)
    cgroup, enforced = isolation(name, jobs_dir)
    return NodeFacts(
        name=name,
        cpus=cpus or int(detected_cpus or 1),
        memory=memory_mb or int(detected_mem),
        gpus=len(found) if gpus is None else gpus,
        gpu_type=gpu_type or nvidia.node_type(found) or None,
        hostname=socket.gethostname(),
        arch=uname.machine,
        os=f"{uname.system} {uname.release} {uname.version}",
        boot_time=psutil.boot_time(),
        gpu_devices=tuple(g.as_dict() for g in found),
        cgroup=cgroup,
        enforced=enforced,
    )


def check_report(facts: NodeFacts, gpu_note: str) -> str:
    """`corral agent --check`: what this node would declare, and how it would confine jobs."""
    lines = [f"node:     {facts.name} ({facts.hostname}, {facts.arch})",
             f"cpus:     {facts.cpus} (usable CPU ids {cgroups.format_cpus(usable_cpus())})",
             f"memory:   {facts.memory} MiB",
             f"gpus:     {facts.gpus}" + (f" (type {facts.gpu_type})" if facts.gpu_type else "")
             + f" [{gpu_note}]"]
    for gpu in facts.gpu_devices:
        lines.append(f"  gpu {gpu['index']}: {gpu['name']} type={gpu['type']} uuid={gpu['uuid']} "
                     f"memory={gpu['memory_mb']}MiB minor={gpu['minor']} mig={gpu['mig']}")
    lines.append(f"cgroups:  {facts.cgroup}")
    lines.append(f"enforced: {facts.enforced}")
    if facts.cgroup.startswith("none"):
        lines.append("warning:  no usable cgroups: memory is polled (a fast allocation can "
                     "overshoot), no pids limit, GPUs isolated by CUDA_VISIBLE_DEVICES only")
    elif facts.cgroup == "cgroup/v2":
        lines.append("note:     cgroup v2: GPU device files are not restricted "
                     "(CUDA_VISIBLE_DEVICES only)")
    return "\n".join(lines)


def load() -> dict[str, float]:
    return {"cpu_load": os.getloadavg()[0],
            "free_memory": psutil.virtual_memory().available // (1024 * 1024)}
