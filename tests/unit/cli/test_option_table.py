"""docs/options.md against the parsers: an option cannot change class without the table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from corral.cli import (
    bjobs,
    bkill,
    lsf_options,
    pbs_options,
    qdel,
    qstat,
    sacct,
    salloc,
    sbatch_options,
    scancel,
    scontrol,
    sinfo,
    squeue,
)
from corral.cli import srun_options as srun
from corral.cli.srun_options import SrunError, parse_command_line

TABLE = Path(__file__).resolve().parents[3] / "docs" / "options.md"
ROW = re.compile(r"^\| `-{1,2}([^`]+)` \| ([a-z ]+) \|")
CLASSES = {"implemented", "recorded", "no effect", "refused", "unrecognized"}


def table() -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in TABLE.read_text().splitlines():
        if line.startswith("## "):
            current = sections.setdefault(line[3:].strip(), {})
        elif current is not None and (match := ROW.match(line)):
            assert match.group(2) in CLASSES, line
            assert match.group(1) not in current, f"listed twice: {line}"
            current[match.group(1)] = match.group(2)
    return sections


def names(options: object) -> set[str]:
    return {o.long for o in options}  # type: ignore[attr-defined]


def test_srun_rows_are_its_parser_with_the_same_classes() -> None:
    rows = table()["srun"]
    assert set(rows) == names(srun.OPTIONS)
    assert {n for n, c in rows.items() if c == "refused"} == set(srun.REFUSED)
    assert {n for n, c in rows.items() if c == "no effect"} == set(srun.NO_EFFECT)


@pytest.mark.parametrize("command, module", [
    ("sbatch", sbatch_options), ("salloc", salloc), ("squeue", squeue), ("sinfo", sinfo),
    ("scancel", scancel), ("sacct", sacct), ("scontrol", scontrol)])
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
