"""The one option scanner of every command, in the three dialects the families speak.

GNU (Slurm): getopt_long — `--name[=value]` with unambiguous prefixes, clustered short
options (`-vN2`), errors worded as glibc's. POSIX (PBS): getopt(3) — short options only, so
`--long` is an invalid option `-`. LSF: openlava's my_getopt — single-dash words (`-gpu`,
`-oo`); a word that is no option is read as the longest option it begins with and the rest as
that option's value (`-n4`, `-oofile`); any argument beginning `--` ends the options.

Each scan stops at the first operand (the script or command) unless `stop_at_operand` is
false, when options may follow operands as GNU getopt permutes them, and always at `--`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

GNU = "gnu"
POSIX = "posix"
LSF = "lsf"


class Option:
    """One option (a plain class: importing dataclasses would cost every command ~10 ms)."""

    __slots__ = ("long", "short", "takes_value", "optional_value")

    def __init__(self, long: str, short: str | None = None, takes_value: bool = True,
                 optional_value: bool = False) -> None:
        self.long = long
        self.short = short
        self.takes_value = takes_value
        self.optional_value = optional_value


class OptionError(Exception):
    """A getopt-level mistake; the message is the whole line, as getopt prints it."""


def letters(spec: str) -> list[Option]:
    """A getopt(3) spec (`ab:c`: -b takes a value) as options named by their letter."""
    return [Option(c, c, spec[i + 1:i + 2] == ":") for i, c in enumerate(spec) if c != ":"]


def words(table: Mapping[str, bool]) -> list[Option]:
    """LSF's table (option word → takes a value) as options named by their word."""
    return [Option(name, None, takes) for name, takes in table.items()]


def scan(prog: str, argv: Sequence[str], options: Sequence[Option], *, dialect: str = GNU,
         stop_at_operand: bool = True, error: Callable[[str], Exception] = OptionError,
         ) -> tuple[list[tuple[str, str | None]], list[str], bool]:
    """([(option's long name, value or None)], operands, whether `--` ended the options).

    A mistake raises `error(line)`, the line worded as the dialect's getopt prints it.
    """
    by_long = {o.long: o for o in options}
    by_short = {o.short: o for o in options if o.short}
    found: list[tuple[str, str | None]] = []
    operands: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--" or (dialect == LSF and arg.startswith("--")):
            return found, operands + args[i + 1:], True
        if not arg.startswith("-") or arg == "-":
            if stop_at_operand:
                return found, operands + args[i:], False
            operands.append(arg)
        elif dialect == LSF:
            i = _word(prog, args, i, by_long, found, error)
        elif arg.startswith("--") and dialect == GNU:
            i = _long(prog, args, i, by_long, found, error)
        else:
            i = _cluster(prog, args, i, by_short, found, error)
        i += 1
    return found, operands, False


def _long(prog: str, args: list[str], i: int, by_long: Mapping[str, Option],
          found: list[tuple[str, str | None]], error: Callable[[str], Exception]) -> int:
    """`--name[=value]` or `--name value`; an unambiguous prefix names its option."""
    name, eq, value = args[i][2:].partition("=")
    option = by_long.get(name)
    if option is None:
        matches = [o for long, o in by_long.items() if long.startswith(name)]
        if len(matches) != 1:
            kind = "ambiguous" if matches else "unrecognized"
            raise error(f"{prog}: {kind} option '--{name}'")
        option = matches[0]
    if option.takes_value and not eq and not option.optional_value:
        if i + 1 >= len(args):
            raise error(f"{prog}: option '--{option.long}' requires an argument")
        i += 1
        value = args[i]
    elif not option.takes_value and eq:
        raise error(f"{prog}: option '--{option.long}' doesn't allow an argument")
    found.append((option.long, value if (eq or option.takes_value) else None))
    return i


def _cluster(prog: str, args: list[str], i: int, by_short: Mapping[str, Option],
             found: list[tuple[str, str | None]], error: Callable[[str], Exception]) -> int:
    """`-abVALUE`, `-ab VALUE`: letters until one that takes a value, which takes the rest
    of the word or else the next argument. An empty value is None, as is a flag's."""
    arg = args[i]
    for j in range(1, len(arg)):
        option = by_short.get(arg[j])
        if option is None:
            raise error(f"{prog}: invalid option -- '{arg[j]}'")
        if not option.takes_value:
            found.append((option.long, None))
            continue
        value = arg[j + 1:]
        if not value and not option.optional_value:
            if i + 1 >= len(args):
                raise error(f"{prog}: option requires an argument -- '{arg[j]}'")
            i += 1
            value = args[i]
        found.append((option.long, value or None))
        break
    return i


def _word(prog: str, args: list[str], i: int, by_long: Mapping[str, Option],
          found: list[tuple[str, str | None]], error: Callable[[str], Exception]) -> int:
    """LSF's `-name value`, or `-namevalue` for the longest option the word begins with
    (my_getopt lists longer names first: Jd: before J:, oo: before o:)."""
    word = args[i][1:]
    option = by_long.get(word)
    if option is not None:
        if not option.takes_value:
            found.append((word, None))
            return i
        if i + 1 >= len(args):
            raise error(f"{prog}: option requires an argument -- {word}")
        found.append((word, args[i + 1]))
        return i + 1
    prefixes = [name for name in by_long if word.startswith(name)]
    if not prefixes:
        raise error(f"{prog}: illegal option -- {word}")
    name = max(prefixes, key=len)
    if not by_long[name].takes_value:
        raise error(f"{prog}: option cannot have an argument -- {name}")
    found.append((name, word[len(name):]))
    return i


def parse(prog: str, argv: Sequence[str], options: Sequence[Option],
          stop_at_positional: bool = True) -> tuple[list[tuple[str, str | None]], list[str]]:
    """Slurm's getopt_long: ([(long name, value)], remaining args)."""
    found, rest, _ = scan(prog, argv, options, stop_at_operand=stop_at_positional)
    return found, rest
