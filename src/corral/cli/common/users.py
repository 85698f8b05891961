"""User names on the command line (-u alice,1001) as the commands match them."""

from __future__ import annotations

import pwd
from collections.abc import Iterable


def resolve_users(names: Iterable[str]) -> tuple[set[str], list[str]]:
    """The users' names and uids as strings, and the names that are no known user."""
    known: set[str] = set()
    invalid: list[str] = []
    for name in names:
        try:
            entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
        except (KeyError, OverflowError):
            if name.isdigit():
                known.add(name)
            else:
                invalid.append(name)
            continue
        known.update({entry.pw_name, str(entry.pw_uid)})
    return known, invalid
