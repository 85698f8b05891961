"""Signal names and sbatch's --signal=[{R|B}:]SIG[@secs], read the same by the commands, the
controller (which checks what the API is sent) and the node (which sends the warning)."""

from __future__ import annotations

from typing import NamedTuple

# Slurm's signal names with their Linux numbers (the signal module costs an enum import).
SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "ABRT": 6, "KILL": 9, "USR1": 10, "USR2": 12,
           "ALRM": 14, "TERM": 15, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22,
           "URG": 23, "XCPU": 24, "XFSZ": 25}

# Slurm's --signal takes at most 0xffff seconds before the time limit.
MAX_WARNING_SECONDS = 65535


class WarningSignal(NamedTuple):
    number: int
    batch_only: bool  # B: the batch shell only, not the job's steps
    seconds: int  # before the time limit


def signal_number(text: str) -> int:
    """A signal by name (KILL, SIGKILL, any case) or number 1-64; ValueError otherwise."""
    name = text.strip().upper()
    if name.isdigit():
        if 0 < int(name) < 65:
            return int(name)
        raise ValueError(text)
    name = name.removeprefix("SIG")
    if name in SIGNALS:
        return SIGNALS[name]
    raise ValueError(text)


def parse_warning_signal(text: str) -> WarningSignal:
    """--signal=[{R|B}:]SIG[@secs]; ValueError when any part is malformed."""
    flags, _, rest = text.rpartition(":")
    name, at, secs = rest.partition("@")
    if set(flags.upper()) - set("RB") or (at and not secs.isdigit()):
        raise ValueError(text)
    seconds = int(secs) if secs else 60
    if seconds > MAX_WARNING_SECONDS:
        raise ValueError(text)
    return WarningSignal(signal_number(name), "B" in flags.upper(), seconds)
