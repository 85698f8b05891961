"""srun's command line and input environment → the step (and the allocation it may create)."""

from __future__ import annotations

import pytest

from corral.cli.slurm.srun_options import (
    SrunError,
    allocation_request,
    expand_io_pattern,
    parse_command_line,
    per_task_pattern,
    step_request,
)

SUBMITIT = ["--unbuffered", "--output", "/f/%j_%t_log.out", "--error", "/f/%j_%t_log.err",
            "--cpu-bind=none", "--kill-on-bad-exit=1", "--mpi=pmix", "--overlap", "-J", "sub",
            "--export=ALL", "python", "-u", "-m", "submitit.core._submit", "/f"]


def step(argv: list[str], **environ: str) -> dict[str, object]:
    return step_request(parse_command_line(argv, environ), cwd="/home/u", environ=environ)


def test_the_command_starts_at_the_first_non_option() -> None:
    opts = parse_command_line(["-n", "2", "-l", "hostname", "-n", "5"], {})
    assert opts.argv == ["hostname", "-n", "5"]
    assert opts.number("ntasks") == 2 and opts.flag("label")


def test_submitits_srun_line_is_accepted() -> None:
    opts = parse_command_line(SUBMITIT, {"SLURM_JOB_ID": "12"})
    assert opts.argv[:3] == ["python", "-u", "-m"]
    assert opts.job_id == 12
    assert opts.values["output"] == "/f/%j_%t_log.out"
    assert step(SUBMITIT, SLURM_JOB_ID="12")["name"] == "sub"


def test_counts_default_to_what_the_job_passed_down() -> None:
    body = step(["true"], SLURM_NTASKS="4", SLURM_NNODES="2", SLURM_CPUS_PER_TASK="2")
    assert (body["ntasks"], body["nodes"], body["cpus_per_task"]) == (4, 2, 2)


def test_an_explicit_node_count_outranks_the_jobs_task_count() -> None:
    body = step(["-N1", "true"], SLURM_NTASKS="4")
    assert (body["ntasks"], body["nodes"]) == (None, 1)


def test_fewer_tasks_than_nodes_shrinks_the_node_count(capsys: pytest.CaptureFixture[str]) -> None:
    body = step(["-N2", "-n1", "true"])
    assert (body["ntasks"], body["nodes"]) == (1, 1)
    assert "can't run 1 processes on 2 nodes, setting nnodes to 1" in capsys.readouterr().err


def test_export_none_keeps_only_what_is_named() -> None:
    body = step(["--export=NONE,A=1", "true"], HOME="/h")
    assert body["environment"] == {"A": "1"}


@pytest.mark.parametrize(("argv", "line"), [
    (["--bogus", "true"], "srun: unrecognized option '--bogus'"),
    (["-n", "x", "true"], 'Invalid numeric value "x" for --ntasks.'),
    ([], "No command given to execute."),
])
def test_bad_command_lines_are_refused_in_srun_words(argv: list[str], line: str) -> None:
    with pytest.raises(SrunError) as refused:
        step(argv)
    assert refused.value.lines[0] == line


def test_outside_an_allocation_the_job_is_named_after_the_command() -> None:
    opts = parse_command_line(["-N2", "-n4", "--mem=100M", "-o", "x", "/bin/hostname"], {})
    request = allocation_request(opts, cwd="/w", environ={"A": "1"}, hostname="login", now=0.0)
    assert request["name"] == "hostname" and request["interactive"] is True
    assert (request["num_nodes"], request["num_tasks"], request["mem_per_node"]) == (2, 4, 100)
    assert "stdout" not in request


def test_io_patterns_expand_per_task_with_padding() -> None:
    fields = {"job_id": 12, "step_id": 3, "procid": 7, "nodeid": 1, "node": "n2", "user": "u",
              "name": "x"}
    assert expand_io_pattern("%j_%t_%3t_%n_%N_%J_%s_%u_%x_%%", **fields) == \
        "12_7_007_1_n2_12.3_3_u_x_%"  # type: ignore[arg-type]
    assert per_task_pattern("out-%t.txt") and per_task_pattern("o-%2N")
    assert not per_task_pattern("out-%j.txt") and not per_task_pattern("100%%t")


@pytest.mark.parametrize("argv, message", [
    (["--reservation=maint", "true"], "--reservation: option not supported by corral"),
    (["-I", "true"], "--immediate: option not supported by corral"),
    (["--immediate=5", "true"], "--immediate: option not supported by corral"),
    (["--distribution=cyclic", "true"],
     "--distribution=cyclic: not supported by corral (it accepts block, *)"),
    (["--ntasks-per-core=1", "true"], "--ntasks-per-core: option not supported by corral"),
    (["-N", "3-2", "true"], "invalid node count `3-2'"),
    (["-N", "x", "true"], "invalid node count `x'"),
])
def test_options_corral_cannot_honour_are_refused_by_name(argv: list[str], message: str) -> None:
    with pytest.raises(SrunError) as caught:
        parse_command_line(argv, {})
    assert caught.value.lines == (message,) and caught.value.code == 1


def test_block_distribution_and_binding_options_are_accepted() -> None:
    opts = parse_command_line(["-m", "block:block", "--cpu-bind=cores", "--hint=nomultithread",
                               "true"], {})
    assert opts.argv == ["true"]


def test_a_node_range_takes_as_many_allocated_nodes_as_its_maximum_allows() -> None:
    opts = parse_command_line(["-N", "1-3", "-n", "4", "true"], {"SLURM_JOB_ID": "5"})
    assert step_request(opts, cwd="/", environ={}, allocated_nodes=2)["nodes"] == 2
    assert step_request(opts, cwd="/", environ={}, allocated_nodes=4)["nodes"] == 3
    assert step_request(parse_command_line(["-N", "2", "true"], {}), cwd="/", environ={},
                        allocated_nodes=4)["nodes"] == 2


def test_job_options_reach_the_allocation_srun_creates() -> None:
    opts = parse_command_line(["--wckey=proj", "--deadline=now+2hours", "--time-min=10",
                               "--begin=now+1hour", "-H", "true"], {})
    request = allocation_request(opts, cwd="/", environ={}, hostname="h", now=1000.0)
    assert request["wckey"] == "proj" and request["time_min"] == 10
    assert request["deadline"] == 1000.0 + 7200 and request["begin_time"] == 1000.0 + 3600
    assert request["hold"] is True
