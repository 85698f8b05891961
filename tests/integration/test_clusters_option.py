"""-M/--clusters through the real commands, on the command lines parsl's SlurmProvider
(clusters=...) and snakemake's slurm plugin (slurm_cluster, scancel --clusters=all) run:
this cluster's name or `all` works, squeue and sinfo head their listing with `CLUSTER:`,
sbatch names the cluster, and another cluster's name is refused with nothing queued."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import Cluster, open_dir

pytestmark = pytest.mark.integration

UNREACHABLE = ("'elsewhere' can't be reached now, or it is an invalid entry for --cluster.  "
               "Use 'sacctmgr list clusters' to see available clusters.")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    root = open_dir("corral-test-clusters-")
    running = Cluster(root, nodes=1, cpus=2).start()
    yield running
    running.stop()
    shutil.rmtree(root, ignore_errors=True)


def name(cluster: Cluster) -> str:
    text = cluster.run("scontrol", "show", "config", check=True).stdout
    return next(line.split("=", 1)[1].strip() for line in text.splitlines()
                if line.split("=")[0].strip() == "ClusterName").lower()


def test_parsls_and_snakemakes_command_lines(cluster: Cluster, workdir: Path) -> None:
    local = name(cluster)
    # parsl: `#SBATCH --clusters=NAME` in its script, then `sbatch SCRIPT`
    script = workdir / "parsl.sh"
    script.write_text(f"#!/bin/sh\n#SBATCH --clusters={local}\nsleep 30\n")
    out = cluster.run("sbatch", str(script), cwd=workdir, check=True).stdout
    assert out.startswith("Submitted batch job ") and out.endswith(f" on cluster {local}\n")
    job = int(out.split()[3])
    # snakemake: `sbatch --parsable ... --clusters NAME`, the id is before the `;`
    snake = cluster.run("sbatch", "--parsable", "--clusters", local, "--wrap", "sleep 30",
                        cwd=workdir, check=True).stdout
    assert snake == f"{snake.split(';')[0]};{local}\n"
    # parsl's squeue fallback: `squeue --clusters=NAME --noheader --format='%i %t' --job ID`
    listed = cluster.run("squeue", f"--clusters={local}", "--noheader", "--format=%i %t",
                         "--job", str(job), check=True).stdout
    assert listed.split() == [str(job), cluster.run(
        "squeue", "-h", "-o", "%t", "-j", str(job), check=True).stdout.strip()]
    headed = cluster.run("squeue", "-M", "all", "-o", "%i", check=True).stdout.splitlines()
    assert headed[:2] == [f"CLUSTER: {local}", "JOBID"]
    assert cluster.run("sinfo", "-M", local, check=True).stdout.startswith(f"CLUSTER: {local}\n")
    # parsl's cancel: `scancel --clusters=NAME ID`; snakemake's: `scancel ID --clusters=all`
    cluster.run("scancel", f"--clusters={local}", str(job), check=True)
    cluster.run("scancel", snake.split(";")[0], "--clusters=all", check=True)
    assert cluster.wait_job(job)["state"] == "CANCELLED"
    assert cluster.wait_job(int(snake.split(";")[0]))["state"] == "CANCELLED"


@pytest.mark.parametrize("argv", [
    ("sbatch", "-M", "elsewhere", "--wrap", "true"), ("salloc", "-M", "elsewhere", "true"),
    ("srun", "-M", "elsewhere", "true"), ("squeue", "-M", "elsewhere"),
    ("sinfo", "--clusters=elsewhere"), ("scancel", "-M", "elsewhere", "1"),
])
def test_another_cluster_is_refused_and_nothing_is_queued(cluster: Cluster, workdir: Path,
                                                          argv: tuple[str, ...]) -> None:
    before = cluster.run("squeue", "-h", "-t", "all", "-o", "%i", check=True).stdout
    result = cluster.run(*argv, cwd=workdir)
    assert result.returncode == 1
    assert result.stderr == f"{argv[0]}: error: {UNREACHABLE}\n"
    assert result.stdout == ""
    assert cluster.run("squeue", "-h", "-t", "all", "-o", "%i", check=True).stdout == before
