"""docs/options.md against the parsers: an option cannot change class without the table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from corral.cli import (
    lsf_options,
    pbs_options,
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


def test_bsub_rows_follow_its_two_lists() -> None:
    rows = table()["bsub"]
    assert {n for n, c in rows.items() if c == "refused"} == set(lsf_options.BSUB_UNSUPPORTED)
    assert {n for n, c in rows.items() if c != "refused"} == set(lsf_options.BSUB_OPTIONS)


def test_qsub_rows_are_its_getopt_letters() -> None:
    assert set(table()["qsub"]) == set(pbs_options.QSUB_SPEC.replace(":", ""))


@pytest.mark.parametrize("command, module", [("sacct", sacct), ("scontrol", scontrol)])
def test_refused_and_no_effect_rows_follow_the_commands_lists(command: str,
                                                              module: object) -> None:
    rows = table()[command]
    assert set(rows) == names(module.OPTIONS)  # type: ignore[attr-defined]
    assert {n for n, c in rows.items() if c == "refused"} == module.REFUSED  # type: ignore[attr-defined]
    assert {n for n, c in rows.items() if c == "no effect"} == module.NO_EFFECT  # type: ignore[attr-defined]
