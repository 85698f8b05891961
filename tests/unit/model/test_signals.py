"""--signal and signal names: one reading for sbatch, scancel, the controller and the node."""

from __future__ import annotations

import pytest

from corral.model.signals import WarningSignal, parse_warning_signal, signal_number


@pytest.mark.parametrize(("text", "expected"), [
    ("USR1", WarningSignal(10, False, 60)),
    ("B:USR1@90", WarningSignal(10, True, 90)),
    ("R:SIGTERM@0", WarningSignal(15, False, 0)),
    ("rb:12@65535", WarningSignal(12, True, 65535)),
])
def test_warning_signals_read_as_slurm_reads_them(text: str, expected: WarningSignal) -> None:
    assert parse_warning_signal(text) == expected


@pytest.mark.parametrize("text", ["B:USR1@x", "X:USR1", "FOO", "0", "65", "USR1@", "USR1@65536",
                                  "USR1@-5", ""])
def test_malformed_warning_signals_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_warning_signal(text)


def test_signal_names_and_numbers() -> None:
    assert [signal_number(t) for t in ("KILL", "sigkill", " 9 ", "64", "usr2")] == [9, 9, 9, 64, 12]
    for bad in ("0", "65", "SIGNOPE", "-1"):
        with pytest.raises(ValueError):
            signal_number(bad)
