"""One machine split into nodes: each node owns distinct physical GPUs, by index or UUID."""

from __future__ import annotations

import pytest

from corral.agent import gpus
from corral.agent.gpus import GpuInfo
from corral.agent.resources import detect


def _machine(count: int) -> list[GpuInfo]:
    return [GpuInfo(index=i, uuid=f"GPU-{i:04d}", name="NVIDIA H100 80GB HBM3", type="h100",
                    memory_mb=81559, minor=i, mig="disabled") for i in range(count)]


def test_split_gives_each_node_its_own_devices_by_uuid() -> None:
    assert gpus.split(_machine(4), nodes=2, per_node=2) == [["GPU-0000", "GPU-0001"],
                                                            ["GPU-0002", "GPU-0003"]]


def test_split_without_nvml_declares_disjoint_indices() -> None:
    assert gpus.split([], nodes=3, per_node=2) == [["0", "1"], ["2", "3"], ["4", "5"]]


def test_split_refuses_more_gpus_than_the_machine_has() -> None:
    with pytest.raises(ValueError, match="need 4 GPUs; this machine has 3"):
        gpus.split(_machine(3), nodes=2, per_node=2)


def test_owned_resolves_indices_and_uuids_to_the_machines_devices() -> None:
    chosen = gpus.owned(_machine(4), ["2", "GPU-0003"])
    assert [(g.index, g.uuid, g.minor) for g in chosen] == [(2, "GPU-0002", 2), (3, "GPU-0003", 3)]


@pytest.mark.parametrize("wanted,problem", [
    (["7"], "no GPU 7 on this machine"),
    (["GPU-dead"], "no GPU GPU-dead on this machine"),
    (["1", "GPU-0001"], "listed twice"),
])
def test_owned_refuses_devices_it_cannot_name(wanted: list[str], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        gpus.owned(_machine(4), wanted)


def test_owned_without_nvml_takes_indices_as_declared_and_refuses_uuids() -> None:
    assert [g.index for g in gpus.owned([], ["2", "3"])] == [2, 3]
    with pytest.raises(ValueError, match="a UUID needs NVML"):
        gpus.owned([], ["GPU-0001"])


@pytest.mark.parametrize("text", ["", "1,,2", " , "])
def test_parse_devices_refuses_empty_items(text: str) -> None:
    with pytest.raises(ValueError, match="invalid GPU device list"):
        gpus.parse_devices(text)


def test_parse_devices_refuses_duplicates() -> None:
    with pytest.raises(ValueError, match="listed twice"):
        gpus.parse_devices("1,1")


def test_a_node_declares_the_physical_indices_it_owns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpus, "driver_present", lambda: False)  # as on a machine without GPUs
    facts = detect("node2", cpus=1, memory_mb=100, gpu_devices=["2", "3"])
    assert facts.gpus == 2 and facts.gpu_type is None
    assert [d["index"] for d in facts.gpu_devices] == [2, 3]
    with pytest.raises(ValueError, match="--gpus 3 does not match --gpu-devices"):
        detect("node2", cpus=1, memory_mb=100, gpus=3, gpu_devices=["2", "3"])
