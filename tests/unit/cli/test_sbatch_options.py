"""sbatch's command line and #SBATCH directives → the job request."""

from __future__ import annotations

import pytest

from corral.cli.slurm.sbatch_options import (
    SbatchError,
    build_request,
    directives,
    parse_command_line,
    parse_directives,
)

SCRIPT = """#!/bin/bash
#SBATCH --job-name=fromfile
#SBATCH -N 2 --ntasks-per-node=2
#SBATCH --time=1-00:00:00   # a comment
echo hi
#SBATCH --mem=1G
"""


def request(values: dict[str, str | None], **environ: str) -> dict[str, object]:
    return build_request(values, script=SCRIPT, script_args=["a"], default_name="job.sh",
                         cwd="/home/u", environ=environ, hostname="login", command="/home/u/job.sh")


def test_directives_stop_at_the_first_command() -> None:
    assert directives(SCRIPT) == ["--job-name=fromfile", "-N", "2", "--ntasks-per-node=2",
                                  "--time=1-00:00:00"]


def test_command_line_overrides_directives() -> None:
    parsed = parse_command_line(["-J", "cli", "job.sh", "a", "--not-an-option"])
    merged = {**parse_directives(SCRIPT), **parsed.values}
    req = request(merged)
    assert (req["name"], req["num_nodes"], req["ntasks_per_node"], req["num_tasks"],
            req["time_limit"]) == ("cli", 2, 2, 4, 1440)
    assert parsed.script_path == "job.sh" and parsed.script_args == ["a", "--not-an-option"]


@pytest.mark.parametrize("values,key,expected", [
    ({"gres": "gpu:h100:2"}, "gpus_per_node", 2),
    ({"gres": "gpu:h100:2"}, "gpu_type", "h100"),
    ({"gres": "gpu:3"}, "gpus_per_node", 3),
    ({"gpus": "4", "nodes": "2"}, "gpus", 4),  # --gpus is over the whole job
    ({"mem": "2G"}, "mem_per_node", 2048),
    ({"mem-per-cpu": "100M"}, "mem_per_cpu", 100),
    ({"nodelist": "n[1-3]"}, "req_nodes", ["n1", "n2", "n3"]),
    ({"nodelist": "n[1-3]"}, "num_nodes", 3),
    ({"exclude": "n2"}, "exc_nodes", ["n2"]),
    ({"chdir": "sub"}, "work_dir", "/home/u/sub"),
    ({"time": "UNLIMITED"}, "time_limit", None),
    ({"no-requeue": None}, "requeue", False),
])
def test_options_map_to_the_request(values: dict[str, str | None], key: str, expected: object) -> None:
    assert request(values)[key] == expected


def test_export_modes() -> None:
    env = {"A": "1", "B": "2"}
    assert request({}, **env)["environment"] == env
    # SLURM_EXPORT_ENV names the mode in the job, as Slurm's sbatch sets it.
    assert request({"export": "NONE"}, **env)["environment"] == {"SLURM_EXPORT_ENV": "NONE"}
    assert request({"export": "A,C=3"}, **env)["environment"] == {
        "A": "1", "C": "3", "SLURM_EXPORT_ENV": "A,C=3"}
    assert request({"export": "ALL,C=3"}, **env)["environment"] == {
        **env, "C": "3", "SLURM_EXPORT_ENV": "ALL,C=3"}


def test_the_sizing_options_given_are_echoed_in_the_environment_and_only_those() -> None:
    inherited = {"SLURM_CPUS_PER_TASK": "8", "SLURM_NTASKS": "4", "SLURM_MEM_PER_NODE": "9"}
    env = request({"cpus-per-task": "1", "mem-per-cpu": "1G", "gpus-per-node": "a100:2",
                   "open-mode": "append"}, **inherited)["environment"]
    assert env == {"SLURM_CPUS_PER_TASK": "1", "SLURM_MEM_PER_CPU": "1024",
                   "SLURM_GPUS_PER_NODE": "a100:2", "SLURM_OPEN_MODE": "a"}


@pytest.mark.parametrize("argv,message,code", [
    (["--no-such-option"], "sbatch: unrecognized option '--no-such-option'", 255),
    (["-J"], "sbatch: option requires an argument -- 'J'", 255),
])
def test_getopt_errors(argv: list[str], message: str, code: int) -> None:
    with pytest.raises(SbatchError) as error:
        parse_command_line(argv)
    assert (error.value.lines[0], error.value.code) == (message, code)


@pytest.mark.parametrize("values,message", [
    ({"time": "bogus"}, "Invalid --time specification"),
    ({"nodes": "0"}, "Invalid --nodes specification"),
    ({"gres": "fpga:1"}, "Invalid generic resource (gres) specification: fpga:1"),
])
def test_bad_values_are_named(values: dict[str, str | None], message: str) -> None:
    with pytest.raises(SbatchError) as error:
        request(values)
    assert error.value.lines[0] == message


def gpu_fields(values: dict[str, str | None]) -> tuple[object, object, object]:
    req = request(values)
    return req.get("gpus"), req.get("gpus_per_node"), req.get("num_nodes")


@pytest.mark.parametrize("values,expected", [
    # Without -N the job's node count is the controller's to work out: the GPUs go with the
    # tasks as a total, spread as --gpus is (-n 4 --gpus-per-task=1: 4 in all, not 4 a node).
    ({"ntasks": "4", "gpus-per-task": "1"}, (4, None, None)),
    ({"ntasks": "3", "gpus-per-task": "2"}, (6, None, None)),
    ({"gpus-per-task": "1"}, (1, None, None)),
    ({"ntasks": "4", "gpus-per-task": "1", "gpus": "6"}, (6, None, None)),
    # With -N (or tasks per node) the nodes are known: each node's tasks' GPUs, as before.
    ({"ntasks": "4", "nodes": "2", "gpus-per-task": "1"}, (None, 2, 2)),
    ({"ntasks": "4", "ntasks-per-node": "2", "gpus-per-task": "1"}, (None, 2, 2)),
])
def test_gpus_per_task_without_nodes_is_a_total(values: dict[str, str | None],
                                                expected: tuple[object, object, object]) -> None:
    assert gpu_fields(values) == expected


def test_mem_per_gpu_of_spread_tasks_follows_their_cpus() -> None:
    req = request({"ntasks": "4", "gpus-per-task": "1", "mem-per-gpu": "1G",
                   "cpus-per-task": "2"})
    assert (req["gpus"], req["mem_per_cpu"], "mem_per_node" in req) == (4, 512, False)
    fixed = request({"ntasks": "4", "nodes": "2", "gpus-per-task": "1", "mem-per-gpu": "1G"})
    assert (fixed["gpus_per_node"], fixed["mem_per_node"]) == (2, 2048)
