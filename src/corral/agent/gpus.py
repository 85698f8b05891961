"""NVIDIA GPUs through NVML (nvidia-ml-py): what the node has, and what a job's GPUs are doing.

Everything here is optional: without the nvidia-ml-py package, without the driver's
libnvidia-ml, or without a GPU, discovery finds zero GPUs and sampling returns nothing, never
an error. pynvml is imported only when called, so nothing pays for it on import. Only
read-only NVML calls are made: device settings (MIG mode included) are reported, never changed.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# The character device major number of /dev/nvidiaN (minor N is the GPU's minor number).
NVIDIA_MAJOR = 195
_VENDOR_WORDS = {"nvidia", "tesla", "geforce", "quadro"}
_SERIES_WORDS = {"rtx", "gtx", "titan"}


@dataclass(frozen=True, slots=True)
class GpuInfo:
    index: int
    uuid: str
    name: str          # as NVML says: "NVIDIA H100 80GB HBM3"
    type: str          # short type for --gres=gpu:TYPE:N: "h100"
    memory_mb: int
    minor: int | None  # /dev/nvidia<minor>
    mig: str           # "enabled", "disabled" or "n/a"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def gpu_type(name: str) -> str:
    """A model name as a short gres type: "NVIDIA H100 80GB HBM3" → "h100",
    "Tesla V100-SXM2-16GB" → "v100", "NVIDIA GeForce RTX 4090" → "rtx4090"."""
    words = [w for w in re.split(r"[\s_]+", name.strip()) if w and w.lower() not in _VENDOR_WORDS]
    if not words:
        return "gpu"
    first = words[0].split("-")[0].lower()
    if first in _SERIES_WORDS and len(words) > 1:
        first += words[1].split("-")[0].lower()
    return re.sub(r"[^a-z0-9]", "", first) or "gpu"


def _nvml() -> Any | None:
    """pynvml, initialised; None when there is no NVML here (no package, driver or device)."""
    try:
        import pynvml  # noqa: PLC0415 - optional and heavy-ish: only where GPUs are looked at
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - NVMLError_LibraryNotFound, DriverNotLoaded, …
        return None
    return pynvml


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _mig(nvml: Any, handle: Any) -> str:
    try:
        current, _pending = nvml.nvmlDeviceGetMigMode(handle)
    except Exception:  # noqa: BLE001 - NotSupported on GPUs without MIG
        return "n/a"
    return "enabled" if current == nvml.NVML_DEVICE_MIG_ENABLE else "disabled"


def _minor(nvml: Any, handle: Any) -> int | None:
    try:
        return int(nvml.nvmlDeviceGetMinorNumber(handle))
    except Exception:  # noqa: BLE001
        return None


def driver_present() -> bool:
    """Cheap check before paying for pynvml's import: the NVIDIA driver's control device."""
    return Path("/dev/nvidiactl").exists()


def discover() -> tuple[list[GpuInfo], str]:
    """The node's GPUs in NVML index order (PCI bus order), and a word on how it went."""
    nvml = _nvml()
    if nvml is None:
        return [], "NVML not available"
    try:
        found = []
        for index in range(int(nvml.nvmlDeviceGetCount())):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = _text(nvml.nvmlDeviceGetName(handle))
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            found.append(GpuInfo(index=index, uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
                                 name=name, type=gpu_type(name),
                                 memory_mb=int(memory.total) // (1024 * 1024),
                                 minor=_minor(nvml, handle), mig=_mig(nvml, handle)))
        return found, f"NVML: {len(found)} GPU(s)"
    except Exception as exc:  # noqa: BLE001 - a broken driver means no usable GPU, not a crash
        return [], f"NVML error: {exc}"
    finally:
        _shutdown(nvml)


def _shutdown(nvml: Any) -> None:
    try:
        nvml.nvmlShutdown()
    except Exception:  # noqa: BLE001
        pass


def parse_devices(text: str) -> list[str]:
    """`--gpu-devices 2,3` or `GPU-8f…,GPU-1a…`: the physical GPUs a node owns."""
    items = [item.strip() for item in text.split(",")]
    if not items or any(not item for item in items):
        raise ValueError(f"invalid GPU device list: {text!r} (expected indices or UUIDs, "
                         "separated by commas)")
    if len(set(items)) != len(items):
        raise ValueError(f"GPU device listed twice: {text!r}")
    return items


def owned(found: list[GpuInfo], wanted: list[str], gpu_type: str | None = None) -> list[GpuInfo]:
    """The node's own GPUs out of the machine's (`found`, from NVML), by index or UUID.

    Without NVML (no driver, or a test machine) the indices are taken as declared, so that
    the nodes of a split machine still hold distinct numbers; a UUID needs NVML to resolve.
    """
    if not found:
        indices = []
        for item in wanted:
            if not item.isdigit():
                raise ValueError(f"GPU {item}: a UUID needs NVML, which is not available here; "
                                 "give indices instead")
            indices.append(int(item))
        return [GpuInfo(index=i, uuid="", name="declared", type=gpu_type or "", memory_mb=0,
                        minor=None, mig="n/a") for i in indices]
    by_key = {str(g.index): g for g in found} | {g.uuid: g for g in found}
    chosen = []
    for item in wanted:
        gpu = by_key.get(item)
        if gpu is None:
            known = ", ".join(f"{g.index} ({g.uuid})" for g in found)
            raise ValueError(f"no GPU {item} on this machine; NVML found: {known}")
        chosen.append(gpu)
    if len({g.index for g in chosen}) != len(chosen):
        raise ValueError("a GPU is listed twice (by index and by UUID)")
    return chosen


def split(found: list[GpuInfo], nodes: int, per_node: int) -> list[list[str]]:
    """Disjoint GPUs for the nodes of one machine (`corral up --nodes N --gpus-per-node G`):
    node k owns the machine's GPUs k*G … k*G+G-1, named by UUID where NVML knows them, so
    no two nodes hand out the same physical device. Without NVML the indices are declared."""
    wanted = nodes * per_node
    if found and len(found) < wanted:
        raise ValueError(f"{nodes} node(s) with {per_node} GPU(s) each need {wanted} GPUs; "
                         f"this machine has {len(found)}")
    names = [g.uuid or str(g.index) for g in found] if found else [str(i) for i in range(wanted)]
    return [names[k * per_node:(k + 1) * per_node] for k in range(nodes)]


def node_type(gpus: list[GpuInfo]) -> str | None:
    """The node's gres type: the GPUs' common type, or None when they differ."""
    types = {g.type for g in gpus}
    return types.pop() if len(types) == 1 else None


@dataclass(frozen=True, slots=True)
class GpuSample:
    util: float      # percent of time a kernel ran, averaged over the job's GPUs
    memory_kb: int   # memory in use, summed over the job's GPUs


class GpuSampler:
    """Utilisation and memory of a job's GPUs (by NVML index); inert without NVML.

    A job holds its GPUs alone, so a device's utilisation is the job's.
    """

    def __init__(self, indices: list[int]) -> None:
        self.nvml = _nvml() if indices else None
        self.handles: list[Any] = []
        if self.nvml is not None:
            try:
                self.handles = [self.nvml.nvmlDeviceGetHandleByIndex(i) for i in indices]
            except Exception:  # noqa: BLE001 - declared GPUs that NVML does not know
                self.close()

    @property
    def active(self) -> bool:
        return bool(self.handles)

    def sample(self) -> GpuSample | None:
        if self.nvml is None or not self.handles:
            return None
        try:
            utils = [float(self.nvml.nvmlDeviceGetUtilizationRates(h).gpu) for h in self.handles]
            used = sum(int(self.nvml.nvmlDeviceGetMemoryInfo(h).used) for h in self.handles)
        except Exception:  # noqa: BLE001
            return None
        return GpuSample(util=sum(utils) / len(utils), memory_kb=used // 1024)

    def close(self) -> None:
        if self.nvml is not None:
            _shutdown(self.nvml)
        self.nvml = None
        self.handles = []
