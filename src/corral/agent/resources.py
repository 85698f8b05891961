"""What this node has: CPUs, memory, GPUs (declared by flag for now), and facts sinfo shows."""

from __future__ import annotations

import os
import platform
import socket
from dataclasses import asdict, dataclass
from typing import Any

import psutil

from corral import __version__


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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def detect(name: str, *, cpus: int | None = None, memory_mb: int | None = None,
           gpus: int | None = None, gpu_type: str | None = None) -> NodeFacts:
    """The node as the agent will declare it; flags override what is detected."""
    detected_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    detected_mem = psutil.virtual_memory().total // (1024 * 1024)
    uname = platform.uname()
    return NodeFacts(
        name=name,
        cpus=cpus or int(detected_cpus or 1),
        memory=memory_mb or int(detected_mem),
        gpus=gpus or 0,
        gpu_type=gpu_type,
        hostname=socket.gethostname(),
        arch=uname.machine,
        os=f"{uname.system} {uname.release} {uname.version}",
        boot_time=psutil.boot_time(),
    )


def load() -> dict[str, float]:
    return {"cpu_load": os.getloadavg()[0],
            "free_memory": psutil.virtual_memory().available // (1024 * 1024)}
