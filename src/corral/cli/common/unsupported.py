"""One wording for the options corral knows but does not do (docs/options.md lists them).

An option of Slurm's man page that corral cannot honour is refused by name rather than
dropped: a script that asks for it would otherwise run, silently, differently from Slurm.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def refusal(option: str) -> str:
    """The error line (after `prog: error: `) for a refused option."""
    flag = f"-{option}" if len(option) == 1 else f"--{option}"
    return f"{flag}: option not supported by corral"


def value_refusal(option: str, value: str, accepted: Iterable[str]) -> str:
    return (f"--{option}={value}: not supported by corral (it accepts "
            f"{', '.join(accepted)})")


def first_refused(found: Iterable[tuple[str, str | None]], refused: Iterable[str],
                  values: Mapping[str, Iterable[str]] | None = None) -> str | None:
    """The refusal for the first option in `found` that is refused outright, or whose value
    is not among the few `values` corral does honour; None when all may go on."""
    refused = set(refused)
    for name, value in found:
        if name in refused:
            return refusal(name)
        allowed = (values or {}).get(name)
        if allowed is not None and value is not None:
            accepted = tuple(allowed)
            if not _allowed(value, accepted):
                return value_refusal(name, value, accepted)
    return None


def _allowed(value: str, accepted: tuple[str, ...]) -> bool:
    # Comma-separated words each accepted (--cpu-bind=quiet,none); "block:…" by its head.
    words = [w.split(":")[0].split("=")[0].lower() for w in value.split(",") if w]
    return bool(words) and all(w in accepted for w in words)
