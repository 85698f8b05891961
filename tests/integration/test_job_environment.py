"""The job as a script sees it: directives read as the command line reads them, the output
environment variables Slurm 22.05 sets in a batch script, an array task and a step, the batch
host, and how tasks are spread over nodes — on a real two-node cluster (2 CPUs a node)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster import Cluster

pytestmark = pytest.mark.integration

# The variables a real Slurm 22.05 batch script had (../shared/slurm-reference/21_job_env.txt,
# `sbatch --mem=64M -c 1 --time=10`), less SLURM_CONF: corral has no slurm.conf to name.
REFERENCE_BATCH = {
    "SLURMD_NODENAME", "SLURM_CLUSTER_NAME", "SLURM_CPUS_ON_NODE", "SLURM_CPUS_PER_TASK",
    "SLURM_GTIDS", "SLURM_JOBID", "SLURM_JOB_ACCOUNT", "SLURM_JOB_CPUS_PER_NODE",
    "SLURM_JOB_GID", "SLURM_JOB_ID", "SLURM_JOB_NAME", "SLURM_JOB_NODELIST",
    "SLURM_JOB_NUM_NODES", "SLURM_JOB_PARTITION", "SLURM_JOB_QOS", "SLURM_JOB_UID",
    "SLURM_JOB_USER", "SLURM_LOCALID", "SLURM_MEM_PER_NODE", "SLURM_NNODES", "SLURM_NODEID",
    "SLURM_NODELIST", "SLURM_NODE_ALIASES", "SLURM_PRIO_PROCESS", "SLURM_PROCID",
    "SLURM_SUBMIT_DIR", "SLURM_SUBMIT_HOST", "SLURM_TASKS_PER_NODE", "SLURM_TASK_PID",
    "SLURM_TOPOLOGY_ADDR", "SLURM_TOPOLOGY_ADDR_PATTERN", "SLURM_WORKING_CLUSTER",
}
REFERENCE_ARRAY = {"SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_ID",
                   "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_STEP"}
# What `srun env` added in the reference's step.
REFERENCE_STEP = {"SLURM_STEPID", "SLURM_STEP_ID", "SLURM_STEP_LAUNCHER_PORT",
                  "SLURM_STEP_NODELIST", "SLURM_STEP_NUM_NODES", "SLURM_STEP_NUM_TASKS",
                  "SLURM_STEP_TASKS_PER_NODE", "SLURM_NTASKS"}


def environment(path: Path) -> dict[str, str]:
    pairs = (line.partition("=") for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, _, value in pairs if key.startswith("SLURM")}


def run_script(cluster: Cluster, workdir: Path, *args: str) -> tuple[dict[str, object], str]:
    job_id = cluster.sbatch("-o", "out-%j.txt", *args, cwd=workdir)
    record = cluster.wait_job(job_id)
    return record, (workdir / f"out-{job_id}.txt").read_text()


def test_a_batch_script_has_every_variable_slurm_sets(cluster: Cluster, workdir: Path) -> None:
    job_id = cluster.sbatch("-c", "1", "--mem=64M", "-t", "10", "-o", "env-%j.txt",
                            "--ntasks-per-node=1", "--wrap", "env",
                            cwd=workdir)
    assert cluster.wait_job(job_id)["state"] == "COMPLETED"
    env = environment(workdir / f"env-{job_id}.txt")
    assert REFERENCE_BATCH <= set(env), REFERENCE_BATCH - set(env)
    assert (env["SLURM_CPUS_PER_TASK"], env["SLURM_MEM_PER_NODE"], env["SLURM_SUBMIT_DIR"],
            env["SLURM_JOB_NUM_NODES"], env["SLURM_NTASKS_PER_NODE"]) == ("1", "64", str(workdir),
                                                                          "1", "1")
    assert "SLURM_RESTART_COUNT" not in env  # Slurm sets it once the job has been requeued
    assert not REFERENCE_ARRAY & set(env)

    job_id = cluster.sbatch("--mem-per-cpu=32", "-o", "env-%j.txt", "--wrap", "env", cwd=workdir)
    assert cluster.wait_job(job_id)["state"] == "COMPLETED"
    env = environment(workdir / f"env-{job_id}.txt")
    assert env["SLURM_MEM_PER_CPU"] == "32" and "SLURM_MEM_PER_NODE" not in env
    assert "SLURM_CPUS_PER_TASK" not in env  # not asked for: Slurm leaves it unset


def test_an_array_task_and_its_step_know_the_array(cluster: Cluster, workdir: Path) -> None:
    job_id = cluster.sbatch("--array=7", "-o", "arr-%A_%a.txt", "--wrap",
                            "env; srun env > step-$SLURM_ARRAY_JOB_ID.txt", cwd=workdir)
    assert cluster.wait_job(job_id)["state"] == "COMPLETED"
    batch = environment(workdir / f"arr-{job_id}_7.txt")
    assert (REFERENCE_BATCH - {"SLURM_CPUS_PER_TASK"}) | REFERENCE_ARRAY <= set(batch)
    assert (batch["SLURM_ARRAY_JOB_ID"], batch["SLURM_ARRAY_TASK_ID"],
            batch["SLURM_ARRAY_TASK_COUNT"]) == (str(job_id), "7", "1")
    step = environment(workdir / f"step-{job_id}.txt")
    assert REFERENCE_STEP | REFERENCE_ARRAY <= set(step), REFERENCE_STEP - set(step)
    assert (step["SLURM_ARRAY_JOB_ID"], step["SLURM_ARRAY_TASK_ID"], step["SLURM_STEP_ID"],
            step["SLURM_JOB_ID"]) == (str(job_id), "7", "0", batch["SLURM_JOB_ID"])
    assert {"SLURM_SRUN_COMM_HOST", "SLURM_SRUN_COMM_PORT", "SLURM_LAUNCH_NODE_IPADDR"} <= set(step)


def test_the_batch_script_runs_on_the_first_node(cluster: Cluster, workdir: Path) -> None:
    record, out = run_script(cluster, workdir, "-N", "2", "--wrap",
                             'echo "$SLURMD_NODENAME $(scontrol show hostnames '
                             '$SLURM_JOB_NODELIST | head -1)"')
    here, first = out.split()
    assert record["state"] == "COMPLETED" and here == first == "node1"


@pytest.mark.parametrize("args,nodes,tasks_per_node", [
    (("-n", "4"), "2", "2(x2)"),                      # 4 tasks, 2 CPUs a node: 2 nodes
    (("-n", "2", "--ntasks-per-node=1"), "2", "1(x2)"),
    (("-N", "1-2"), "2", "1(x2)"),                    # as many as are free, within the range
    (("-n", "3"), "2", "2,1"),                        # block distribution: fill the first
])
def test_tasks_are_spread_over_nodes_as_slurm_does(cluster: Cluster, workdir: Path,
                                                   args: tuple[str, ...], nodes: str,
                                                   tasks_per_node: str) -> None:
    record, out = run_script(cluster, workdir, *args, "--wrap",
                             "echo $SLURM_JOB_NUM_NODES $SLURM_TASKS_PER_NODE")
    assert record["state"] == "COMPLETED"
    assert out.split() == [nodes, tasks_per_node]


def test_directives_mean_what_the_command_line_means(cluster: Cluster, workdir: Path) -> None:
    # As simple_slurm writes them: column-padded, a flag followed by spaces, on standard input.
    script = ("#!/bin/sh\n\n#SBATCH --job-name            padded\n"
              "#SBATCH --parsable            \n#SBATCH --output              pad-%j.txt\n"
              "echo $SLURM_JOB_NAME\n")
    result = cluster.run("sbatch", input=script, cwd=workdir)
    assert result.returncode == 0, result.stderr
    job_id = int(result.stdout)  # the bare id: --parsable holds as a directive
    assert cluster.wait_job(job_id)["state"] == "COMPLETED"
    assert (workdir / f"pad-{job_id}.txt").read_text() == "padded\n"


def test_the_input_environment_sits_between_command_line_and_directives(
        cluster: Cluster, workdir: Path) -> None:
    (workdir / "job.sh").write_text("#!/bin/sh\n#SBATCH -J fromscript -o fromscript.txt\n"
                                    "#SBATCH --time=5\necho $SLURM_JOB_NAME\n")
    env = {"SBATCH_JOB_NAME": "fromenv", "SBATCH_TIMELIMIT": "7", "SLURM_CONF": "/nowhere"}
    job_id = cluster.sbatch("-o", "cli.txt", "job.sh", cwd=workdir, env=env)
    record = cluster.wait_job(job_id)
    assert (record["name"], record["time_limit"]) == ("fromenv", 7)
    assert (workdir / "cli.txt").read_text() == "fromenv\n"


def test_a_malformed_directive_queues_nothing(cluster: Cluster, workdir: Path) -> None:
    before = cluster.run("squeue", "-h", "-t", "all", "-o", "%i").stdout
    for line, message in (("#SBATCH --bogus", "sbatch: unrecognized option '--bogus'"),
                          ("#SBATCH -N 1 stray", "Invalid directive found in batch script: stray"),
                          ("#SBATCH -J 'open", "unmatched quote")):
        result = cluster.run("sbatch", input=f"#!/bin/sh\n{line}\ntrue\n", cwd=workdir)
        assert (result.returncode, result.stdout) == (255, ""), line
        assert message in result.stderr, result.stderr
    result = cluster.run("sbatch", "--wrap", "true", cwd=workdir,
                         env={"SBATCH_RESERVATION": "maint"})
    assert result.returncode == 1 and "--reservation: option not supported by corral" \
        in result.stderr
    assert cluster.run("squeue", "-h", "-t", "all", "-o", "%i").stdout == before


@pytest.mark.parametrize("command", [("salloc", "-n", "4", "sh", "-c"), ("srun", "-n", "4", "sh", "-c")])
def test_salloc_and_srun_spread_tasks_as_sbatch_does(cluster: Cluster, workdir: Path,
                                                     command: tuple[str, ...]) -> None:
    result = cluster.run(*command, "echo $SLURM_JOB_NUM_NODES", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == {"2"}
