"""GNU getopt_long for the Slurm-style commands: the same option forms and the same error wording."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Opt:
    """One option: `key` names it in the result; `short` is one letter; `takes_arg` as getopt's."""

    key: str
    short: str | None = None
    long: tuple[str, ...] = ()
    takes_arg: bool = False


class OptionError(Exception):
    """A command line getopt_long refuses; `message` is glibc's text, without the program name."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _find_long(name: str, options: Sequence[Opt]) -> tuple[Opt, str]:
    """The option a (possibly abbreviated) long name means, and its full spelling."""
    exact = [(o, n) for o in options for n in o.long if n == name]
    if exact:
        return exact[0]
    matches = [(o, n) for o in options for n in o.long if n.startswith(name)]
    distinct = {id(o) for o, _ in matches}
    if len(distinct) == 1:
        return matches[0]
    if not matches:
        raise OptionError(f"unrecognized option '--{name}'")
    names = " ".join(f"'--{n}'" for _, n in matches)
    raise OptionError(f"option '--{name}' is ambiguous; possibilities: {names}")


def parse(argv: Sequence[str], options: Sequence[Opt]) -> tuple[list[tuple[str, str | None]], list[str]]:
    """Parses `argv` as getopt_long does (options and operands may mix; `--` ends options).

    Returns the options in order as (key, argument) pairs, and the operands.
    """
    by_short = {o.short: o for o in options if o.short}
    found: list[tuple[str, str | None]] = []
    operands: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            operands.extend(args[i:])
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            opt, full = _find_long(name, options) if name else (None, "")
            if opt is None:
                raise OptionError(f"unrecognized option '{arg}'")
            if opt.takes_arg:
                if not eq:
                    if i >= len(args):
                        raise OptionError(f"option '--{full}' requires an argument")
                    value = args[i]
                    i += 1
                found.append((opt.key, value))
            else:
                if eq:
                    raise OptionError(f"option '--{full}' doesn't allow an argument")
                found.append((opt.key, None))
            continue
        if arg.startswith("-") and arg != "-":
            j = 1
            while j < len(arg):
                letter = arg[j]
                j += 1
                short = by_short.get(letter)
                if short is None:
                    raise OptionError(f"invalid option -- '{letter}'")
                if not short.takes_arg:
                    found.append((short.key, None))
                    continue
                if j < len(arg):
                    value = arg[j:]
                elif i < len(args):
                    value = args[i]
                    i += 1
                else:
                    raise OptionError(f"option requires an argument -- '{letter}'")
                found.append((short.key, value))
                break
            continue
        operands.append(arg)
    return found, operands
