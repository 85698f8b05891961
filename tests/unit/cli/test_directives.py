"""One grammar: an sbatch option means the same on the command line, as an #SBATCH directive
and from its input environment variable, with Slurm's precedence between the three."""

from __future__ import annotations

from typing import Any

import pytest

from corral.cli.slurm.sbatch_options import (
    OPTIONS,
    SALLOC_ENVIRONMENT,
    SBATCH_ENVIRONMENT,
    SbatchError,
    build_request,
    check_supported,
    environment_options,
    merge,
    parse_command_line,
    parse_directives,
)


def request(values: dict[str, str | None]) -> dict[str, Any]:
    return build_request(values, script="#!/bin/sh\ntrue\n", script_args=[], default_name="job.sh",
                         cwd="/home/u", environ={}, hostname="login", command="/home/u/job.sh")


def script(*lines: str) -> str:
    return "#!/bin/sh\n" + "".join(f"{line}\n" for line in lines) + "true\n"


# (command line, the same as a directive, its input environment variable or None)
SAME = [
    (["--partition=gpu"], "#SBATCH -p gpu", ("SBATCH_PARTITION", "gpu")),
    (["-A", "lab"], "#SBATCH --account lab", ("SBATCH_ACCOUNT", "lab")),
    (["--time=1:30:00"], "#SBATCH -t 1:30:00", ("SBATCH_TIMELIMIT", "1:30:00")),
    (["-J", "x"], "#SBATCH --job-name            x", ("SBATCH_JOB_NAME", "x")),
    (["-o", "out-%j"], "#SBATCH --output=out-%j", ("SBATCH_OUTPUT", "out-%j")),
    (["-e", "err"], "#SBATCH --error            err", ("SBATCH_ERROR", "err")),
    (["--export=NONE,A=1"], "#SBATCH --export NONE,A=1", ("SBATCH_EXPORT", "NONE,A=1")),
    (["--qos=high"], "#SBATCH -q high", ("SBATCH_QOS", "high")),
    (["--exclusive"], "#SBATCH --exclusive            ", ("SBATCH_EXCLUSIVE", "")),
    (["--mem=2G"], "#SBATCH --mem\t2G", ("SBATCH_MEM_PER_NODE", "2G")),
    (["--mem-per-cpu=100"], "#SBATCH --mem-per-cpu=100", ("SBATCH_MEM_PER_CPU", "100")),
    (["-G", "2"], "#SBATCH --gpus 2", ("SBATCH_GPUS", "2")),
    (["--gres=gpu:1"], "#SBATCH --gres=gpu:1", ("SBATCH_GRES", "gpu:1")),
    (["--no-requeue"], "#SBATCH --no-requeue", ("SBATCH_NO_REQUEUE", "1")),
    (["--array=1-3"], "#SBATCH -a 1-3", ("SBATCH_ARRAY_INX", "1-3")),
    (["--signal=USR1@60"], "#SBATCH --signal USR1@60", ("SBATCH_SIGNAL", "USR1@60")),
    (["--constraint=a|b"], "#SBATCH -C 'a|b'", ("SBATCH_CONSTRAINT", "a|b")),
    (["--wckey=w"], "#SBATCH --wckey=w  # a comment", ("SBATCH_WCKEY", "w")),
    (["--parsable"], "#SBATCH --parsable            ", None),
    (["-c", "1", "-n", "2"], "#SBATCH --cpus-per-task 1 --ntasks=2", None),
]


@pytest.mark.parametrize("argv,directive,variable", SAME, ids=[" ".join(s[0]) for s in SAME])
def test_an_option_means_the_same_in_each_place(argv: list[str], directive: str,
                                                variable: tuple[str, str] | None) -> None:
    command_line = parse_command_line([*argv, "job.sh"]).values
    from_script = parse_directives(script(directive))
    assert from_script == command_line
    assert request(from_script) == request(command_line)
    if variable is not None:
        name, value = variable
        assert request(environment_options("sbatch", {name: value}, SBATCH_ENVIRONMENT,
                                           OPTIONS)) == request(command_line)


def test_command_line_beats_environment_beats_directives() -> None:
    directives = parse_directives(script("#SBATCH -p fromscript -J fromscript -A fromscript"))
    environment = environment_options("sbatch", {"SBATCH_PARTITION": "fromenv",
                                                 "SBATCH_JOB_NAME": "fromenv"},
                                      SBATCH_ENVIRONMENT, OPTIONS)
    command_line = parse_command_line(["-p", "fromcli", "job.sh"]).values
    req = request(merge(directives, environment, command_line))
    assert (req["partition"], req["name"], req["account"]) == ("fromcli", "fromenv", "fromscript")


def test_a_higher_layer_undoes_an_opposite_option() -> None:
    directives = parse_directives(script("#SBATCH --no-requeue"))
    assert "requeue" not in request(merge(directives, {"requeue": None}))
    assert request(merge({"requeue": None}, directives))["requeue"] is False


def test_slurm_conf_and_other_variables_are_left_alone() -> None:
    environ = {"SLURM_CONF": "/etc/slurm/slurm.conf", "SLURM_JOB_ID": "7", "SBATCHX": "1"}
    assert environment_options("sbatch", environ, SBATCH_ENVIRONMENT, OPTIONS) == {}


def test_an_input_variable_for_an_option_we_lack_is_refused_by_name() -> None:
    values = environment_options("sbatch", {"SBATCH_RESERVATION": "maint"}, SBATCH_ENVIRONMENT,
                                 OPTIONS)
    assert values == {"reservation": "maint"}
    with pytest.raises(SbatchError) as caught:  # the one wording, as on the command line
        check_supported(values)
    assert caught.value.lines == ("--reservation: option not supported by corral",)
    assert caught.value.code != 0


def test_salloc_reads_its_own_prefix() -> None:
    values = environment_options("salloc", {"SALLOC_PARTITION": "p", "SBATCH_PARTITION": "q"},
                                 SALLOC_ENVIRONMENT, OPTIONS)
    assert values == {"partition": "p"}


@pytest.mark.parametrize("line,message", [
    ("#SBATCH --no-such-option", "sbatch: unrecognized option '--no-such-option'"),
    ("#SBATCH --mem", "sbatch: option '--mem' requires an argument"),
    ("#SBATCH -Z", "sbatch: invalid option -- 'Z'"),
    ("#SBATCH --parsable=yes", "sbatch: option '--parsable' doesn't allow an argument"),
    ("#SBATCH -N 2 stray", "Invalid directive found in batch script: stray"),
    ("#SBATCH -J 'open", "line 2: unmatched quote in #SBATCH directive: -J 'open"),
])
def test_a_malformed_directive_is_refused_as_the_command_line_is(line: str, message: str) -> None:
    with pytest.raises(SbatchError) as caught:
        parse_directives(script(line))
    assert caught.value.lines == (message,) and caught.value.code == 255


def test_directives_end_at_the_first_command_and_other_comments_are_skipped() -> None:
    text = "#!/bin/sh\n\n# a note\n#SBATCHX -J no\n#SBATCH -J yes\necho\n#SBATCH -p late\n"
    assert parse_directives(text) == {"job-name": "yes"}
