"""A getopt_long-style parser: Slurm's commands stop at the first non-option (the script),
accept unambiguous long-option prefixes, and word their errors as getopt does."""

from __future__ import annotations

from collections.abc import Sequence


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


def parse(prog: str, argv: Sequence[str], options: Sequence[Option],
          stop_at_positional: bool = True) -> tuple[list[tuple[str, str | None]], list[str]]:
    """Returns ([(long name, value)], remaining args)."""
    by_long = {o.long: o for o in options}
    by_short = {o.short: o for o in options if o.short}
    found: list[tuple[str, str | None]] = []
    rest: list[str] = []
    i = 0
    args = list(argv)
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i + 1:])
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            option = by_long.get(name)
            if option is None:
                matches = [o for long, o in by_long.items() if long.startswith(name)]
                if len(matches) != 1:
                    kind = "ambiguous" if matches else "unrecognized"
                    raise OptionError(f"{prog}: {kind} option '--{name}'")
                option = matches[0]
            if option.takes_value and not eq and not option.optional_value:
                if i + 1 >= len(args):
                    raise OptionError(f"{prog}: option '--{option.long}' requires an argument")
                i += 1
                value = args[i]
            elif not option.takes_value and eq:
                raise OptionError(f"{prog}: option '--{option.long}' doesn't allow an argument")
            found.append((option.long, value if (eq or option.takes_value) else None))
        elif arg.startswith("-") and len(arg) > 1:
            j = 1
            while j < len(arg):
                option = by_short.get(arg[j])
                if option is None:
                    raise OptionError(f"{prog}: invalid option -- '{arg[j]}'")
                if option.takes_value:
                    value = arg[j + 1:]
                    if not value and not option.optional_value:
                        if i + 1 >= len(args):
                            raise OptionError(f"{prog}: option requires an argument -- '{arg[j]}'")
                        i += 1
                        value = args[i]
                    found.append((option.long, value or None))
                    break
                found.append((option.long, None))
                j += 1
        else:
            if stop_at_positional:
                rest.extend(args[i:])
                break
            rest.append(arg)
        i += 1
    return found, rest
