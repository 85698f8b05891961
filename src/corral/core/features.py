"""--constraint expressions over node features, in Slurm's syntax.

    intel            nodes with feature "intel"
    intel&ib         both;  intel|amd  either;  (a|b)&c  grouping
    [rack1|rack2]    one of them, the same for every node of the job

Feature counts ("intel*2") are not supported and are refused as a bad constraint.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

Match = Callable[[frozenset[str]], bool]

_ANY = "\x00"  # stands for the [..] group while the rest of the expression is parsed
_TOKEN = re.compile(r"\s*(?:([A-Za-z0-9_.:+/-]+)|([&|()\[\]*,]))")


class BadConstraint(ValueError):
    """The expression cannot be parsed or uses what corral does not support."""


@dataclass(frozen=True, slots=True)
class Constraint:
    """A parsed --constraint: the job's nodes must all satisfy one of the alternatives."""

    text: str
    alternatives: tuple[Match, ...]

    def allows(self, features: frozenset[str]) -> bool:
        """Could a node with these features be one of the job's nodes?"""
        return any(alt(features) for alt in self.alternatives)


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise BadConstraint(f"unexpected {text[pos:]!r}")
        out.append(match.group(1) or match.group(2))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise BadConstraint(f"expected {expected or 'a feature'}")
        self.pos += 1
        return token

    def disjunction(self) -> Match:
        terms = [self.conjunction()]
        while self.peek() == "|":
            self.take("|")
            terms.append(self.conjunction())
        if len(terms) == 1:
            return terms[0]
        return lambda f: any(t(f) for t in terms)

    def conjunction(self) -> Match:
        factors = [self.factor()]
        while self.peek() in ("&", ","):
            self.take()
            factors.append(self.factor())
        if len(factors) == 1:
            return factors[0]
        return lambda f: all(t(f) for t in factors)

    def factor(self) -> Match:
        token = self.peek()
        if token == "(":
            self.take("(")
            inner = self.disjunction()
            self.take(")")
            return inner
        if token in ("[", "]", ")", "|", "&", ",", "*", None):
            raise BadConstraint(f"unexpected {token or 'end'}")
        name = self.take()
        if name == _ANY:
            return lambda f: True
        if self.peek() == "*":
            raise BadConstraint("feature counts are not supported")
        return lambda f: name in f


@lru_cache(maxsize=1024)
def parse_constraint(text: str) -> Constraint:
    """Parse once; the same text gives the same Constraint (cached)."""
    tokens = _tokens(text)
    if not tokens:
        raise BadConstraint("empty constraint")
    if "[" in tokens:
        return _with_matching_or(text, tokens)
    parser = _Parser(tokens)
    expr = parser.disjunction()
    if parser.peek() is not None:
        raise BadConstraint(f"unexpected {parser.peek()}")
    return Constraint(text, (expr,))


def _with_matching_or(text: str, tokens: list[str]) -> Constraint:
    """`[a|b]` anded with other terms at the top level: one alternative per bracketed option."""
    start = tokens.index("[")
    if "]" not in tokens[start:]:
        raise BadConstraint("unbalanced [")
    end = tokens.index("]", start)
    inside = tokens[start + 1:end]
    rest = tokens[:start] + [_ANY] + tokens[end + 1:]
    if "[" in rest or "]" in rest or "|" in rest or not inside:
        raise BadConstraint("a [..] group must be alone or anded at the top level")
    outer = _Parser(rest)
    others = outer.disjunction()
    if outer.peek() is not None:
        raise BadConstraint(f"unexpected {outer.peek()}")
    options: list[list[str]] = [[]]
    for token in inside:
        if token == "|":
            options.append([])
        else:
            options[-1].append(token)
    alternatives: list[Match] = []
    for option in options:
        parser = _Parser(option)
        first = parser.disjunction()
        if parser.peek() is not None or not option:
            raise BadConstraint("bad [..] option")
        alternatives.append(_both(first, others))
    return Constraint(text, tuple(alternatives))


def _both(a: Match, b: Match) -> Match:
    return lambda f: a(f) and b(f)
