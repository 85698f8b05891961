"""parsl, unchanged: a HighThroughputExecutor whose blocks come from SlurmProvider (sbatch for a
block, sacct for its state, scancel at cleanup), workers started by srun inside the block, with
only corral's commands on PATH."""

from __future__ import annotations

import shutil
from pathlib import Path

import parsl
import pytest
from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.launchers import SrunLauncher
from parsl.providers import SlurmProvider

from cluster import BIN, Cluster

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent


def _where(x: int) -> tuple[int, str, str]:
    import os

    return x * x, os.environ["SLURM_JOB_ID"], os.environ.get("SLURM_STEP_ID", "?")


def _fails() -> None:
    raise ValueError("this app fails on purpose")


@pytest.fixture
def slurm_env(cluster: Cluster, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    assert shutil.which("sbatch", path=f"{BIN}") is not None
    monkeypatch.setenv("PATH", f"{BIN}:/usr/bin:/bin")
    for key, value in cluster.env.items():
        if key.startswith("CORRAL_"):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(workdir)
    return workdir


# The provider's default (the pool runs in the batch script of an --exclusive block) and the
# SrunLauncher (the pool is the block's first step, sized by --cpus-per-task from cores_per_node).
BLOCKS = {
    "single-node": {},
    "srun": {"launcher": SrunLauncher(), "cores_per_node": 2, "exclusive": False},
}


@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_parsl_runs_apps_in_a_slurm_block_and_cancels_it(
        block: str, slurm_env: Path, cluster: Cluster) -> None:
    where, fails = parsl.python_app(_where), parsl.python_app(_fails)
    provider = SlurmProvider(
        nodes_per_block=1, init_blocks=1, min_blocks=0, max_blocks=1, walltime="00:05:00",
        cmd_timeout=30, **BLOCKS[block],
        # The apps travel by reference: the workers import them from this module, as a user's
        # workers import the user's own modules.
        worker_init=f"export PYTHONPATH={HERE}:{HERE.parent}")
    executor = HighThroughputExecutor(
        label="corral", address="127.0.0.1", provider=provider, max_workers_per_node=2,
        heartbeat_period=2, heartbeat_threshold=10)
    config = Config(executors=[executor], run_dir=str(slurm_env / "runinfo"), strategy="none")
    dfk = parsl.load(config)
    try:
        results = [where(i).result(timeout=60) for i in range(4)]
        assert [r[0] for r in results] == [0, 1, 4, 9]
        (job_id,) = {r[1] for r in results}
        if block == "srun":
            assert {r[2] for r in results} == {"0"}  # the pool is the block's first step

        with pytest.raises(ValueError, match="on purpose"):
            fails().result(timeout=60)

        # The provider's own status query (sacct -X --format=jobid,state%20 --job ID).
        (status,) = provider.status([job_id])
        assert status.state.name == "RUNNING"
    finally:
        dfk.cleanup()
        parsl.clear()
    # Cleanup scaled the block in with scancel: the job ends CANCELLED.
    assert cluster.wait_job(int(job_id))["state"] == "CANCELLED"
    script = next((slurm_env / "runinfo").glob("*/submit_scripts/parsl.corral.block-0.*[0-9]"))
    out = Path(f"{script}.stdout").read_text()
    if block == "srun":
        assert "#SBATCH --cpus-per-task=2" in script.read_text()
        # The SrunLauncher's block script reads the allocation from Slurm's variables.
        assert "Found cores : 2" in out and "Found nodes : 1" in out, out
    else:
        assert "#SBATCH --exclusive" in script.read_text()
        assert "Launching worker: 1" in out, out
