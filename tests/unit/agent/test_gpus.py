"""gpus.py: type names, discovery through NVML (a stand-in module where there is no GPU), and
GPU usage in the job's sampler. Tests that need a real GPU are marked `gpu`."""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from corral.agent import gpus
from corral.agent.resources import check_report, detect
from corral.agent.supervisor import oom_note
from corral.agent.usage import Sampler, tree_rss_kb


@pytest.mark.parametrize(("name", "short"), [
    ("NVIDIA H100 80GB HBM3", "h100"),
    ("NVIDIA H200", "h200"),
    ("NVIDIA A100-SXM4-40GB", "a100"),
    ("Tesla V100-SXM2-16GB", "v100"),
    ("NVIDIA GeForce RTX 4090", "rtx4090"),
    ("NVIDIA RTX A6000", "rtxa6000"),
    ("NVIDIA L40S", "l40s"),
    ("Tesla T4", "t4"),
])
def test_model_names_become_gres_types(name: str, short: str) -> None:
    assert gpus.gpu_type(name) == short


class _Handle:
    def __init__(self, index: int) -> None:
        self.index = index


def _fake_nvml(count: int, util: int = 50) -> types.ModuleType:
    """The few NVML calls corral makes, as a driver with `count` H100s would answer them."""
    nvml = types.ModuleType("pynvml")
    memory = types.SimpleNamespace(total=80 * 1024**3, used=2 * 1024**3)

    def mig_mode(handle: _Handle) -> list[int]:
        if handle.index == 1:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        return [1, 1]

    calls: dict[str, Any] = {
        "nvmlInit": lambda: None, "nvmlShutdown": lambda: None,
        "nvmlDeviceGetCount": lambda: count,
        "nvmlDeviceGetHandleByIndex": _Handle,
        "nvmlDeviceGetName": lambda h: b"NVIDIA H100 80GB HBM3",
        "nvmlDeviceGetUUID": lambda h: f"GPU-{h.index:04d}",
        "nvmlDeviceGetMemoryInfo": lambda h: memory,
        "nvmlDeviceGetMinorNumber": lambda h: h.index,
        "nvmlDeviceGetMigMode": mig_mode,
        "nvmlDeviceGetUtilizationRates": lambda h: types.SimpleNamespace(gpu=util),
        "NVML_DEVICE_MIG_ENABLE": 1,
    }
    for key, value in calls.items():
        setattr(nvml, key, value)
    return nvml


@pytest.fixture
def two_h100s(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml(2))
    yield


def test_discovery_reads_index_uuid_type_memory_and_mig(two_h100s: None) -> None:
    found, note = gpus.discover()
    assert note == "NVML: 2 GPU(s)"
    assert [(g.index, g.uuid, g.type, g.memory_mb, g.minor, g.mig) for g in found] == [
        (0, "GPU-0000", "h100", 81920, 0, "enabled"),
        (1, "GPU-0001", "h100", 81920, 1, "n/a")]
    assert gpus.node_type(found) == "h100"


def test_no_nvml_means_no_gpus_and_no_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # the import fails
    assert gpus.discover() == ([], "NVML not available")
    assert not gpus.GpuSampler([0]).active


def test_declared_gpus_keep_nvml_out_and_the_check_says_so() -> None:
    facts = detect("n1", cpus=2, memory_mb=1000, gpus=4, gpu_type="h100")
    assert (facts.gpus, facts.gpu_type, facts.gpu_devices) == (4, "h100", ())
    text = check_report(facts, "declared by --gpus")
    assert "gpus:     4 (type h100) [declared by --gpus]" in text
    assert f"cgroups:  {facts.cgroup}" in text


def test_sampler_averages_gpu_use_and_flags_idle_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml(1, util=0))
    sampler = Sampler(None, gpus.GpuSampler([0]), gpu_idle_after=60)
    sampler.sample(1000.0, list)
    assert not sampler.gpu_idle(1030.0)
    sampler.sample(1070.0, list)
    assert sampler.gpu_idle(1070.0)
    live = sampler.live(1070.0)
    assert live["gpu_idle_since"] == 1000.0 and live["gpu_util"] == 0.0
    assert live["gpu_mem_kb"] == 2 * 1024 * 1024
    final = sampler.final(1070.0)
    assert final["gpu_idle"] is True and "total_cpu_s" in final


def test_jobs_without_gpus_have_no_gpu_usage() -> None:
    sampler = Sampler(None)
    sampler.sample(0.0, list)
    assert "gpu_util" not in sampler.final(1.0)


def test_memory_of_a_process_tree() -> None:
    assert tree_rss_kb([os.getpid()]) > 1000
    assert tree_rss_kb([2**22 + 7]) == 0  # a pid that does not exist counts nothing


def test_oom_note_has_slurmstepds_words() -> None:
    assert oom_note(12, "batch", 1) == (
        "Detected 1 oom_kill event in StepId=12.batch. Some of the step tasks have been OOM Killed.")
    assert oom_note(12, "0", 3).startswith("Detected 3 oom_kill events in StepId=12.0.")


@pytest.mark.gpu
def test_real_gpus_are_found() -> None:
    found, note = gpus.discover()
    if not found:
        pytest.skip(f"no NVIDIA GPU: {note}")
    assert all(g.uuid.startswith(("GPU-", "MIG-")) and g.memory_mb > 0 for g in found)
    sample = gpus.GpuSampler([found[0].index]).sample()
    assert sample is not None and 0 <= sample.util <= 100
