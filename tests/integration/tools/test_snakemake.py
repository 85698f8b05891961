"""snakemake 9, unchanged, with snakemake-executor-plugin-slurm: each rule is an sbatch job (the
plugin's --parsable, --job-name, --comment, --export=ALL, -D, -t, --mem, --ntasks and
--cpus-per-task; the command as --wrap, as a script on /dev/stdin, or a rule's jobs as one
--array), run by the jobstep plugin as an srun step, polled with sacct (--clusters all,
--starttime/--endtime now, --name) or squeue (--states=all --name) by the run's name; a
failing rule fails the workflow with its status, and the efficiency report reads sacct.
Only corral's commands are on PATH."""

from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path

import pytest
import snakemake  # noqa: F401 - the test drives its command line, installed beside it
import snakemake_executor_plugin_slurm  # noqa: F401

from cluster import BIN, Cluster

pytestmark = pytest.mark.integration

SNAKEFILE = """
rule all:
    input: "joined.txt", "never.txt"

rule part:
    output: "part{n}.txt"
    resources: runtime=2, mem_mb=400
    shell: "echo {wildcards.n} $SLURM_JOB_ID > {output}"

rule join:
    input: expand("part{n}.txt", n=[1, 2])
    output: "joined.txt"
    shell: "cat {input} > {output}"

rule broken:
    output: "never.txt"
    shell: "echo broken on purpose >&2; exit 3"
"""


def _snakemake(cluster: Cluster, workdir: Path, status: str, *options: str
               ) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SLURM_")},
           **{k: v for k, v in cluster.env.items() if k.startswith("CORRAL_")},
           "PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(workdir)}
    return subprocess.run(
        [str(BIN / "snakemake"), "--executor", "slurm", "--jobs", "3", "--snakefile",
         str(workdir / "Snakefile"), "--directory", str(workdir), "--latency-wait", "10",
         "--default-resources", "runtime=2", "mem_mb=400",
         "--slurm-init-seconds-before-status-checks", "1", "--slurm-status-command", status,
         "--slurm-keep-successful-logs", "--keep-going", *options],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=240)


# The plugin polls with sacct by default; squeue is its choice where MinJobAge is long enough.
# With --slurm-array-jobs the parts go as one `sbatch --array --wrap` (logs named %A_%a).
@pytest.mark.parametrize(("status", "arrays"), [("sacct", True), ("squeue", False)])
def test_snakemake_runs_a_dag_and_reports_a_failing_rule(
        status: str, arrays: bool, cluster: Cluster, workdir: Path) -> None:
    (workdir / "Snakefile").write_text(SNAKEFILE)
    # One run: the two parts and the broken rule are the first round of jobs, the join the
    # second (--keep-going lets the branch that does not depend on the failure finish).
    # Arrays for the parts (sbatch --wrap), or else each job's script on stdin (sbatch
    # /dev/stdin) and the plugin's efficiency report (sacct --name of the run).
    extra = (["--slurm-array-jobs", "part"] if arrays else
             ["--slurm-pass-command-as-script", "--slurm-efficiency-report",
              "--slurm-efficiency-report-path", str(workdir / "eff")])
    run = _snakemake(cluster, workdir, status, *extra)
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    lines = (workdir / "joined.txt").read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["1", "2"], output
    # Each part ran as a job of its own.
    part_jobs = {line.split()[1] for line in lines}
    assert len(part_jobs) == 2

    assert "Error in rule broken" in output
    assert "SLURM status is: 'FAILED'" in output
    assert not (workdir / "never.txt").exists()
    (log,) = (workdir / ".snakemake" / "slurm_logs" / "rule_broken").glob("*.log")
    assert "broken on purpose" in log.read_text()
    # The jobs carry the run's name and the rule as their comment, as the plugin set them.
    listing = cluster.run("sacct", "-X", "--parsable2", "--noheader",
                          "--format=JobIdRaw,JobName,Comment,State", check=True).stdout
    rows = [row.split("|") for row in listing.splitlines()]
    ours = {row[0]: row for row in rows if row[0] in part_jobs}
    assert {row[3] for row in ours.values()} == {"COMPLETED"}
    assert len({row[1] for row in ours.values()}) == 1  # the run's uuid, the plugin's filter
    assert all("rule_part" in row[2] for row in ours.values()), rows
    logs = sorted(p.name for p in (workdir / ".snakemake" / "slurm_logs" / "rule_part").rglob("*.log"))
    if arrays:
        assert len(logs) == 2 and all("_" in name for name in logs), logs
    else:
        # One row per job step (the srun of each rule), its rule from the job's comment.
        (report,) = (workdir / "eff").glob("efficiency_report_*.csv")
        table = list(csv.DictReader(report.open()))
        assert sorted(row["RuleName"].split("_wildcards")[0] for row in table) == [
            "rule_broken", "rule_join", "rule_part", "rule_part"], table
        assert {row["RequestedMem_MB"] for row in table} == {"400.0"}, table
