"""docs/options.md against the parsers: an option cannot change class without the table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from corral.cli.common.getopt import parse
from corral.cli.common.runner import CommandError
from corral.cli.lsf import bjobs, bkill
from corral.cli.lsf import options as lsf_options
from corral.cli.pbs import options as pbs_options
from corral.cli.pbs import qdel, qstat
from corral.cli.slurm import sacct, salloc, sbatch, sbatch_options, scancel, scontrol, sinfo, squeue
from corral.cli.slurm import srun_options as srun
from corral.cli.slurm.sbatch_options import SBATCH_ENVIRONMENT, SbatchError
from corral.cli.slurm.srun_options import SrunError, parse_command_line

TABLE = Path(__file__).resolve().parents[3] / "docs" / "options.md"
# `--long` or `--long`, `-s` (the short form, where the man page gives one), then the class.
ROW = re.compile(r"^\| `-{1,2}([^`]+)`(?:, `-(\w)`)? \| ([a-z ]+) \|")
CLASSES = {"implemented", "recorded", "no effect", "refused"}

# Every option of Slurm 22.05's man pages, as `long/s` (s: the short form, where there is
# one), written down from sbatch(1), salloc(1), squeue(1), sinfo(1) and scancel(1).
MAN_PAGES = {
    "sbatch": """
        account/A acctg-freq array/a batch bb bbf begin/b chdir/D cluster-constraint
        clusters/M comment constraint/C container contiguous core-spec/S cores-per-socket
        cpu-freq cpus-per-gpu cpus-per-task/c deadline delay-boot dependency/d distribution/m
        error/e exclude/x exclusive export export-file extra-node-info/B get-user-env gid
        gpu-bind gpu-freq gpus/G gpus-per-node gpus-per-socket gpus-per-task gres gres-flags
        help/h hint hold/H ignore-pbs input/i job-name/J kill-on-invalid-dep licenses/L
        mail-type mail-user mcs-label mem mem-bind mem-per-cpu mem-per-gpu mincpus network nice
        no-kill/k no-requeue nodefile/F nodelist/w nodes/N ntasks/n ntasks-per-core
        ntasks-per-gpu ntasks-per-node ntasks-per-socket open-mode output/o overcommit/O
        oversubscribe/s parsable partition/p power prefer priority profile propagate qos/q
        quiet/Q reboot requeue reservation signal sockets-per-node spread-job switches
        test-only thread-spec threads-per-core time/t time-min tmp uid usage use-min-nodes
        verbose/v version/V wait/W wait-all-nodes wckey wrap""",
    "salloc": """
        account/A acctg-freq bb bbf begin/b bell chdir/D cluster-constraint clusters/M comment
        constraint/C container contiguous core-spec/S cores-per-socket cpu-freq cpus-per-gpu
        cpus-per-task/c deadline delay-boot dependency/d distribution/m exclude/x exclusive
        extra-node-info/B get-user-env gid gpu-bind gpu-freq gpus/G gpus-per-node
        gpus-per-socket gpus-per-task gres gres-flags help/h hint hold/H immediate/I
        job-name/J kill-command/K licenses/L mail-type mail-user mcs-label mem mem-bind
        mem-per-cpu mem-per-gpu mincpus network nice no-bell no-kill/k no-shell nodefile/F
        nodelist/w nodes/N ntasks/n ntasks-per-core ntasks-per-gpu ntasks-per-node
        ntasks-per-socket overcommit/O oversubscribe/s partition/p power prefer priority
        profile qos/q quiet/Q reboot reservation signal sockets-per-node spread-job switches
        thread-spec threads-per-core time/t time-min tmp uid usage use-min-nodes verbose/v
        version/V wait-all-nodes wckey x11""",
    "squeue": """
        account/A all/a array/r array-unique clusters/M federation format/o Format/O help hide
        iterate/i jobs/j json licenses/L local long/l me name/n noconvert noheader/h
        nodelist/w partition/p priority/P qos/q reservation/R sibling sort/S start states/t
        steps/s usage user/u verbose/v version/V yaml""",
    "sinfo": """
        all/a clusters/M dead/d exact/e federation format/o Format/O help hide iterate/i json
        list-reasons/R local long/l noconvert Node/N nodes/n noheader/h partition/p
        reservation/T responding/r sort/S states/t summarize/s usage verbose/v version/V
        yaml""",
    "scancel": """
        account/A batch/b clusters/M cron/c ctld full/f help hurry/H interactive/i me name/n
        nodelist/w partition/p qos/q quiet/Q reservation/R sibling signal/s state/t usage
        user/u verbose/v version/V wckey""",
}
# Accepted by the parser beside the man page's options, each said so below its table.
BEYOND_MAN_PAGE = {
    "sbatch": (), "salloc": salloc.BEYOND_MAN_PAGE, "sinfo": (), "scancel": ("jobname",),
    "squeue": ("accounts", "job", "names", "partitions", "state", "users"),
}
MODULES = {"sbatch": sbatch_options, "salloc": salloc, "squeue": squeue, "sinfo": sinfo,
           "scancel": scancel}


def man(command: str) -> dict[str, str | None]:
    """The man page's options: long name -> short letter (None where there is none)."""
    pairs = (word.partition("/") for word in MAN_PAGES[command].split())
    return {long: short or None for long, _, short in pairs}


def table_rows() -> dict[str, dict[str, tuple[str | None, str]]]:
    """Each section's rows: long name -> (short letter or None, class)."""
    sections: dict[str, dict[str, tuple[str | None, str]]] = {}
    current: dict[str, tuple[str | None, str]] | None = None
    for line in TABLE.read_text().splitlines():
        if line.startswith("## "):
            current = sections.setdefault(line[3:].strip(), {})
        elif current is not None and (match := ROW.match(line)):
            assert match.group(3) in CLASSES, line
            assert match.group(1) not in current, f"listed twice: {line}"
            current[match.group(1)] = (match.group(2), match.group(3))
    return sections


def table() -> dict[str, dict[str, str]]:
    return {section: {name: kind for name, (_, kind) in rows.items()}
            for section, rows in table_rows().items()}


def names(options: object) -> set[str]:
    return {o.long for o in options}  # type: ignore[attr-defined]


def test_srun_rows_are_its_parser_with_the_same_classes() -> None:
    rows = table()["srun"]
    assert set(rows) == names(srun.OPTIONS)
    assert {n for n, c in rows.items() if c == "refused"} == set(srun.REFUSED)
    assert {n for n, c in rows.items() if c == "no effect"} == set(srun.NO_EFFECT)


@pytest.mark.parametrize("command, module", [("sacct", sacct), ("scontrol", scontrol)])
def test_accepted_rows_are_exactly_the_parsers_options(command: str, module: object) -> None:
    rows = table()[command]
    accepted = {n for n, c in rows.items() if c != "unrecognized"}
    assert accepted == names(module.OPTIONS)  # type: ignore[attr-defined]


def test_every_refused_srun_option_is_refused_by_name() -> None:
    for name in srun.REFUSED:
        option = next(o for o in srun.OPTIONS if o.long == name)
        argv = [f"--{name}=1" if option.takes_value else f"--{name}", "true"]
        with pytest.raises(SrunError) as caught:
            parse_command_line(argv, {})
        assert caught.value.lines == (f"--{name}: option not supported by corral",)


def classes(rows: dict[str, str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name, kind in rows.items():
        found.setdefault(kind, set()).add(name)
    return found


@pytest.mark.parametrize("command, accepted, no_effect, refused", [
    ("bsub", lsf_options.BSUB_OPTIONS, lsf_options.BSUB_NO_EFFECT, lsf_options.BSUB_UNSUPPORTED),
    ("bjobs", bjobs.OPTIONS, bjobs.NO_EFFECT, bjobs.REFUSED),
    ("bkill", bkill.OPTIONS, bkill.NO_EFFECT, bkill.REFUSED),
])
def test_lsf_rows_follow_the_commands_lists(command: str, accepted: object, no_effect: object,
                                            refused: object) -> None:
    rows = classes(table()[command])
    assert set(rows) <= {"implemented", "no effect", "refused"}
    assert rows["refused"] == set(refused)  # type: ignore[call-overload]
    assert rows.get("no effect", set()) == set(no_effect)  # type: ignore[call-overload]
    assert rows["implemented"] | rows.get("no effect", set()) == set(accepted)  # type: ignore[call-overload]
    assert not set(accepted) & set(refused)  # type: ignore[call-overload]


@pytest.mark.parametrize("command, spec, no_effect, refused", [
    ("qsub", pbs_options.QSUB_SPEC, pbs_options.QSUB_NO_EFFECT, pbs_options.QSUB_REFUSED),
    ("qstat", qstat.SPEC, qstat.NO_EFFECT, qstat.REFUSED),
    ("qdel", qdel.SPEC, qdel.NO_EFFECT, qdel.REFUSED),
])
def test_pbs_rows_are_the_getopt_letters_with_the_same_classes(
        command: str, spec: str, no_effect: frozenset[str], refused: frozenset[str]) -> None:
    rows = classes(table()[command])
    assert set(rows) <= {"implemented", "no effect", "refused"}
    assert set().union(*rows.values()) == set(spec.replace(":", "")) | {"version"}
    assert rows.get("refused", set()) == refused
    assert rows.get("no effect", set()) == no_effect


@pytest.mark.parametrize("command, module", [("sacct", sacct), ("scontrol", scontrol)])
def test_refused_and_no_effect_rows_follow_the_commands_lists(command: str,
                                                              module: object) -> None:
    rows = table()[command]
    assert set(rows) == names(module.OPTIONS)  # type: ignore[attr-defined]
    assert {n for n, c in rows.items() if c == "refused"} == module.REFUSED  # type: ignore[attr-defined]
    assert {n for n, c in rows.items() if c == "no effect"} == module.NO_EFFECT  # type: ignore[attr-defined]


# -- sbatch, salloc, squeue, sinfo, scancel: the man pages, one row each --------------------

@pytest.mark.parametrize("command", sorted(MAN_PAGES))
def test_rows_are_the_man_pages_options_with_their_short_forms(command: str) -> None:
    rows = table_rows()[command]
    assert {name: short for name, (short, _) in rows.items()} == man(command)


@pytest.mark.parametrize("command", sorted(MAN_PAGES))
def test_the_parser_takes_each_man_page_option_with_its_short_form(command: str) -> None:
    options = MODULES[command].OPTIONS  # type: ignore[attr-defined]
    beyond = set(BEYOND_MAN_PAGE[command])
    assert {o.long: o.short for o in options if o.long not in beyond} == man(command)
    assert names(options) - set(man(command)) == beyond
    assert len(options) == len(names(options))  # no option twice


@pytest.mark.parametrize("command", sorted(MAN_PAGES))
def test_refused_and_no_effect_rows_are_the_commands_lists(command: str) -> None:
    module: Any = MODULES[command]
    found = classes(table()[command])
    values = getattr(module, "ACCEPTED_VALUES", {})
    assert found.get("refused", set()) == set(module.REFUSED) - set(values)
    assert found.get("no effect", set()) == set(module.NO_EFFECT)
    assert not set(module.REFUSED) & set(module.NO_EFFECT) - set(values)
    assert set(module.REFUSED) | set(module.NO_EFFECT) <= set(man(command))


class NoController:
    """A client that fails the test if a refused request reaches it (nothing is queued)."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the controller was asked ({name}) for a refused request")


def _argument(command: str, name: str) -> str:
    option = next(o for o in MODULES[command].OPTIONS if o.long == name)  # type: ignore[attr-defined]
    return f"--{name}=1" if option.takes_value and not option.optional_value else f"--{name}"


@pytest.mark.parametrize("name", sbatch_options.REFUSED)
def test_sbatch_refuses_each_by_name_from_command_line_directive_and_environment(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wording = (f"--{name}: option not supported by corral",)
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\ntrue\n")
    for variable in [v for v in SBATCH_ENVIRONMENT if v.startswith(("SBATCH_", "SLURM_"))]:
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(SbatchError) as caught:
        sbatch.submit([_argument("sbatch", name), str(script)], NoController())  # type: ignore[arg-type]
    assert (caught.value.lines, caught.value.code) == (wording, 1)

    script.write_text(f"#!/bin/sh\n#SBATCH {_argument('sbatch', name)}\ntrue\n")
    with pytest.raises(SbatchError) as caught:
        sbatch.submit([str(script)], NoController())  # type: ignore[arg-type]
    assert (caught.value.lines, caught.value.code) == (wording, 1)

    script.write_text("#!/bin/sh\ntrue\n")
    for variable in [v for v, option in SBATCH_ENVIRONMENT.items() if option == name]:
        monkeypatch.setenv(variable, "1")
        with pytest.raises(SbatchError) as caught:
            sbatch.submit([str(script)], NoController())  # type: ignore[arg-type]
        assert (caught.value.lines, caught.value.code) == (wording, 1)
        monkeypatch.delenv(variable)


def test_sbatch_distribution_is_refused_only_for_values_other_than_block(
        tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\n#SBATCH -m cyclic\ntrue\n")
    with pytest.raises(SbatchError) as caught:
        sbatch.submit([str(script)], NoController())  # type: ignore[arg-type]
    assert caught.value.lines[0].startswith("--distribution=cyclic: not supported by corral")
    sbatch_options.check_supported({"distribution": "block"})  # accepted: Slurm's default


@pytest.mark.parametrize("name", salloc.REFUSED)
def test_salloc_refuses_each_by_name_and_asks_for_nothing(
        name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert salloc._salloc(NoController(), [_argument("salloc", name), "true"]) == 1  # type: ignore[arg-type]
    assert capsys.readouterr().err == f"salloc: error: --{name}: option not supported by corral\n"


@pytest.mark.parametrize("command, name", [
    *(("squeue", n) for n in sorted(squeue.REFUSED)),
    *(("sinfo", n) for n in sorted(sinfo.REFUSED)),
    *(("scancel", n) for n in sorted(scancel.REFUSED)),
])
def test_status_commands_refuse_each_by_name(command: str, name: str) -> None:
    argv = [_argument(command, name), "5"]
    reader = {"squeue": squeue.parse_request, "sinfo": sinfo.parse_request,
              "scancel": scancel.parse_selection}[command]
    with pytest.raises(CommandError) as caught:
        reader(argv)
    assert (caught.value.message, caught.value.code) == (
        f"--{name}: option not supported by corral", 1)


@pytest.mark.parametrize("command", sorted(MAN_PAGES))
def test_no_effect_options_are_taken_without_a_word(command: str) -> None:
    module: Any = MODULES[command]
    for name in module.NO_EFFECT:
        argument = "--distribution=block" if name == "distribution" else _argument(command, name)
        if command in ("sbatch", "salloc"):
            found, _ = parse(command, [argument], module.OPTIONS)
            assert found[0][0] == name
            sbatch_options.check_supported(dict(found), module.REFUSED)  # does not raise
        elif command == "scancel":
            assert scancel.parse_selection([argument, "5"])["job_ids"] == [5]
        else:
            assert module.parse_request([argument]) is not None
