"""IBM Spectrum LSF's command language, read onto corral's terms (pure: no controller needed).

bsub's options and #BSUB directives, -R resource requirement strings, -J job arrays, -w
dependency expressions, -W run limits and job ids such as `123[4]` become the fields of a
SubmitRequest and Slurm's spellings (`1-10%2`, `afterok:12`, `123_4`). Errors carry LSF's own
wording; bsub adds ". Job not submitted." as LSF does.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from corral.cli.common.getopt import LSF, scan, words
from corral.cli.common.translate import dependency_terms, next_local_time, slurm_dependency

MAX_ARRAY_SIZE = 1000  # LSF's default MAX_JOB_ARRAY_SIZE, which also bounds the indices
INDEX_LIMIT = 100_000  # the most tasks of one folded array record bjobs and bqueues count


class LsfError(Exception):
    """A mistake LSF would reject; `message` is LSF's wording, without "Job not submitted"."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --------------------------------------------------------------------------- command lines

# Option name → takes a value. LSF's options are single-dash words (-gpu, -oo, -Jd).
# Every option of LSF 10.1's bsub is in one of the two tables (docs/options.md classes each).
# -P names the job's account (LSF projects are what sites account by).
BSUB_OPTIONS: dict[str, bool] = {
    "J": True, "Jd": True, "n": True, "W": True, "q": True, "o": True, "oo": True, "e": True,
    "eo": True, "i": True, "R": True, "gpu": True, "w": True, "cwd": True, "b": True, "M": True,
    "u": True, "env": True, "P": True, "G": True, "L": True, "app": True, "sla": True,
    "H": False, "x": False, "r": False, "rn": False, "B": False, "N": False, "K": False,
    "h": False, "V": False,
    # Interactive jobs (-Is with a pseudo-terminal): an allocation running the command.
    "I": False, "Ip": False, "Is": False, "tty": False,
}
# Taken and without effect: corral has no LSF user groups, login-shell set-up, application
# profiles or service classes, and scripts carry them; an interactive job's output is on the
# terminal already (-tty).
BSUB_NO_EFFECT = frozenset({"G", "L", "app", "sla", "tty"})
# Options LSF has and corral cannot honour: refused by name rather than silently dropped.
BSUB_UNSUPPORTED: dict[str, bool] = {
    "E": True, "Ep": True, "f": True, "k": True, "m": True, "T": True, "t": True, "c": True,
    "F": True, "D": True, "S": True, "C": True, "v": True, "p": True, "ext": True, "a": True,
    "X": True, "s": True, "sp": True, "g": True, "U": True, "wa": True, "wt": True, "We": True,
    "Q": True, "is": True, "hostfile": True, "data": True, "outdir": True, "pack": True,
    "IS": False, "ISp": False, "ISs": False,
    "IX": False, "Zs": False, "ul": False,
    # CSM, multicluster, data manager, energy and other site machinery corral does not have.
    "alloc_flags": True, "ar": False, "clusters": True, "cn_cu": True, "cn_mem": True,
    "core_isolation": True, "csm": True, "datachk": False, "datagrp": True, "eptl": True,
    "freq": True, "hl": False, "jsdl": True, "jsdl_strict": True, "jsm": True, "json": True,
    "Lp": True, "ln_mem": True, "ln_slots": True, "mig": True, "Ne": False, "network": True,
    "notify": True, "ptl": True, "rnc": True, "smt": True, "stage": True, "step_cgroup": True,
    "ti": False, "XF": False, "yaml": True,
}


def parse_args(prog: str, argv: Sequence[str], options: Mapping[str, bool],
               stop_at_operand: bool = True) -> tuple[list[tuple[str, str | None]], list[str]]:
    """LSF's my_getopt: `-name value`, or `-namevalue` for an option that takes a value.

    Returns ([(name, value)], operands). Stops at the first operand (bsub's command) unless
    told otherwise, and at `--`. Raises LsfError with LSF's getopt wording.
    """
    found, operands, _ = scan(prog, argv, words(options), dialect=LSF,
                              stop_at_operand=stop_at_operand, error=LsfError)
    return found, operands


def directives(script: str) -> list[str]:
    """The arguments of the script's #BSUB lines, read until its first command."""
    args: list[str] = []
    for line in script.splitlines()[1:] if script.startswith("#!") else script.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#"):
            break
        if stripped.startswith("#BSUB"):
            text = stripped[len("#BSUB"):].split(" #", 1)[0]
            try:
                args.extend(shlex.split(text))
            except ValueError:
                raise LsfError(f"{stripped}: Bad argument") from None
    return args


def command_line(args: Sequence[str]) -> str:
    """bsub's command from its words, quoted the way LSF's CopyCommand quotes them."""
    words = [args[0]] if args else []
    for arg in args[1:]:
        if " " in arg:
            quote = "'" if '"' in arg or "$" in arg else '"'
            words.append(f"{quote}{arg}{quote}")
        else:
            words.append(arg)
    return " ".join(words)


# --------------------------------------------------------------------------- values

def parse_run_limit(text: str) -> int:
    """-W [hour:]minute[/host_spec] → minutes."""
    value = text.split("/", 1)[0]
    parts = value.split(":")
    if len(parts) > 2 or not all(p.isdigit() and p.isascii() for p in parts):
        raise LsfError(f"{text}: Bad RUNLIMIT specification")
    minutes = int(parts[0]) * 60 + int(parts[1]) if len(parts) == 2 else int(parts[0])
    if minutes <= 0:
        raise LsfError(f"{text}: RUNLIMIT value should be a positive integer")
    return minutes


def parse_slots(text: str) -> int:
    """-n min[,max]: corral cannot run a slot range, so a job gets its minimum."""
    low, _, high = text.partition(",")
    if not re.fullmatch(r"-?[0-9]+", low) or (high and not re.fullmatch(r"-?[0-9]+", high)):
        raise LsfError("Bad argument for option -n")
    if int(low) <= 0 or (high and int(high) <= 0):
        raise LsfError("The number of processors must be a positive integer")
    if high and int(low) > int(high):
        raise LsfError("Bad argument for option -n")
    return int(low)


_INDEX_ITEM = re.compile(r"([0-9]+)(?:-([0-9]+)(?::([0-9]+))?)?")


def parse_index_list(text: str) -> list[tuple[int, int, int]]:
    """`1-10:2,15` → [(1, 10, 2), (15, 15, 1)]; ValueError when it does not parse."""
    items = []
    for part in text.split(","):
        match = _INDEX_ITEM.fullmatch(part.strip())
        if not match:
            raise ValueError(text)
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) else start
        items.append((start, end, int(match.group(3) or 1)))
    return items


def parse_job_name(text: str) -> tuple[str, str | None]:
    """-J name or "name[index_list]%limit" → (name, Slurm --array spec or None)."""
    if "[" not in text:
        if "]" in text or not text.strip():
            raise LsfError("Bad job name")
        return text, None
    match = re.fullmatch(r"([^\[\]]*)\[([^\[\]]+)\](?:%([0-9]+))?", text)
    if not match:
        raise LsfError("Bad job name")
    name, index_list, throttle = match.groups()
    try:
        items = parse_index_list(index_list)
    except ValueError:
        raise LsfError("Bad job name") from None
    if throttle is not None and int(throttle) < 1:
        raise LsfError("Bad job name")
    size = 0
    for start, end, step in items:
        if start < 1 or step < 1 or start > end:
            raise LsfError("Job array index error")
        if end > MAX_ARRAY_SIZE:
            raise LsfError("Job array index too large")
        size += (end - start) // step + 1
    if size > MAX_ARRAY_SIZE:
        raise LsfError("Job array index too large")
    spec = ",".join(f"{s}" if s == e else f"{s}-{e}" + (f":{st}" if st != 1 else "")
                    for s, e, st in items)
    return name, spec + (f"%{throttle}" if throttle else "")


_MEM = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([KMGT]B?)?", re.IGNORECASE)
_MEM_SCALE = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}


def parse_mem_mb(text: str, default_unit: str = "M") -> int:
    """A memory size in LSF's units (MB unless a KB/MB/GB/TB suffix says otherwise) → MiB."""
    match = _MEM.fullmatch(text.strip())
    if not match:
        raise ValueError(text)
    unit = (match.group(2) or default_unit)[0].upper()
    return max(1, int(float(match.group(1)) * _MEM_SCALE[unit] + 0.999999))


# --------------------------------------------------------------------------- -R and -gpu

_SECTION = re.compile(r"\s*(select|order|rusage|span|same|cu|affinity|filter)\s*\[", re.IGNORECASE)


class ResReq:
    """What corral takes from the -R strings: memory per slot, host spread, GPUs."""

    __slots__ = ("mem_mb", "hosts", "ptile", "gpus", "constraint")

    def __init__(self) -> None:
        self.mem_mb: int | None = None
        self.hosts: int | None = None
        self.ptile: int | None = None
        self.gpus: int | None = None
        self.constraint: str | None = None  # select[...] as a Slurm --constraint


# select[] terms: a host resource name, an operator, a parenthesis, or a comparison.
_SELECT_TOKEN = re.compile(r"\s*(?:(&&|\|\||[()!])|([A-Za-z_][A-Za-z0-9_.\-]*)"
                           r"(?:\s*(==|!=|>=|<=|=|>|<)\s*([A-Za-z0-9_.\-]+))?)")
# Comparisons every host satisfies: LSF's host types "any" and "local" mean no restriction.
_TRIVIAL = {("type", "any"), ("type", "local")}


def select_constraint(body: str) -> str | None:
    """select[a && (b || c)] → `a&(b|c)`: the boolean resources LSF selects hosts by are
    corral's node features. A comparison (mem>4000, ncpus>=8) or a negation has no node
    feature to stand for it and is refused by name rather than ignored. None: any host."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while body[pos:].strip():
        match = _SELECT_TOKEN.match(body, pos)
        if match is None or match.end() == pos:
            raise LsfError("Bad resource requirement syntax")
        pos = match.end()
        op, name, cmp, value = match.groups()
        if op == "!":
            raise LsfError(f"select[{body.strip()}]: negation is not supported by corral")
        if op:
            tokens.append(("op", op))
        elif cmp is not None and (name.lower(), value.lower()) not in _TRIVIAL:
            raise LsfError(f"select[{body.strip()}]: {name}{cmp}{value}: corral selects hosts "
                           "by resource names (node features) only")
        else:
            tokens.append(("name", "" if cmp is not None else name))
    result, rest = _select_or(tokens)
    if rest:
        raise LsfError("Bad resource requirement syntax")
    return result or None


def _select_or(tokens: list[tuple[str, str]]) -> tuple[str, list[tuple[str, str]]]:
    """An `a || b` list; "" (any host) when one side is true for every host."""
    left, tokens = _select_and(tokens)
    parts = [left]
    while tokens[:1] == [("op", "||")]:
        right, tokens = _select_and(tokens[1:])
        parts.append(right)
    return ("" if "" in parts else "|".join(parts)), tokens


def _select_and(tokens: list[tuple[str, str]]) -> tuple[str, list[tuple[str, str]]]:
    left, tokens = _select_factor(tokens)
    parts = [left]
    while tokens[:1] == [("op", "&&")]:
        right, tokens = _select_factor(tokens[1:])
        parts.append(right)
    return "&".join(p for p in parts if p), tokens


def _select_factor(tokens: list[tuple[str, str]]) -> tuple[str, list[tuple[str, str]]]:
    if not tokens:
        raise LsfError("Bad resource requirement syntax")
    kind, text = tokens[0]
    if kind == "name":
        return text, tokens[1:]
    if text != "(":
        raise LsfError("Bad resource requirement syntax")
    inner, rest = _select_or(tokens[1:])
    if rest[:1] != [("op", ")")]:
        raise LsfError("Bad resource requirement syntax")
    return (f"({inner})" if "|" in inner and inner else inner), rest[1:]


def _sections(text: str) -> list[tuple[str, str]]:
    """`select[a] rusage[b]` → [("select", "a"), ("rusage", "b")]; a bare string is a select."""
    if "[" not in text and "]" not in text:
        return [("select", text)] if text.strip() else []
    found: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        match = _SECTION.match(text, pos)
        if not match:
            raise LsfError("Bad resource requirement syntax")
        depth, end = 1, match.end()
        while end < len(text) and depth:
            depth += {"[": 1, "]": -1}.get(text[end], 0)
            end += 1
        if depth:
            raise LsfError("Bad resource requirement syntax")
        name = match.group(1).lower()
        if any(name == seen for seen, _ in found):
            raise LsfError("Bad resource requirement syntax")
        found.append((name, text[match.end():end - 1]))
        pos = end
    return found


def _key_values(body: str, separator: str) -> list[tuple[str, str]]:
    pairs = []
    for item in body.split(separator):
        key, eq, value = item.strip().partition("=")
        if not eq or not key.strip() or not value.strip():
            raise LsfError("Bad resource requirement syntax")
        pairs.append((key.strip().lower(), value.strip()))
    return pairs


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise LsfError("Bad resource requirement syntax")
    return int(text)


def parse_resreq(strings: Sequence[str]) -> ResReq:
    """One or more -R strings (LSF merges them); only rusage and span change the request."""
    req = ResReq()
    for text in strings:
        for name, body in _sections(text):
            if name == "rusage":
                if "||" in body or "{" in body:
                    raise LsfError("Bad resource requirement syntax")
                for resource in body.split(","):
                    # `mem=100:duration=10` — attributes after the first ':' shape the
                    # reservation over time, which corral does not decay.
                    key, value = _key_values(resource.split(":", 1)[0], ",")[0]
                    if key == "mem":
                        try:
                            req.mem_mb = parse_mem_mb(value)
                        except ValueError:
                            raise LsfError("Bad resource requirement syntax") from None
                    elif key in ("ngpus_physical", "ngpus"):
                        req.gpus = _positive(value.split(".", 1)[0])
                    elif not re.fullmatch(r"[0-9.]+[A-Za-z]*", value):
                        raise LsfError("Bad resource requirement syntax")
            elif name == "span":
                for key, value in _key_values(body, ":"):
                    if key == "hosts":
                        if value != "-1":
                            req.hosts = _positive(value)
                    elif key == "ptile":
                        req.ptile = _positive(value.split("!", 1)[0]) if value != "!" else None
                    elif key != "block" or not value.isdigit():
                        raise LsfError("Bad resource requirement syntax")
            elif name == "select":
                found = select_constraint(body)
                if found and req.constraint and found != req.constraint:
                    req.constraint = f"({req.constraint})&({found})"
                elif found:
                    req.constraint = found
            elif body.count("(") != body.count(")"):
                raise LsfError("Bad resource requirement syntax")
    if req.hosts is not None and req.ptile is not None:
        raise LsfError("Bad resource requirement syntax")
    return req


def parse_gpu(text: str) -> tuple[int, str | None]:
    """-gpu "num=N[:mode=…][:gmodel=NAME]…" or "-" (one GPU) → (GPUs per host, model)."""
    if text.strip() == "-":
        return 1, None
    count, model = 1, None
    for key, value in _key_values(text, ":"):
        if key == "num":
            count = _positive(value.split("/", 1)[0])
        elif key == "gmodel":
            model = value.split("-", 1)[0] or None
        elif key not in ("mode", "mps", "j_exclusive", "gmem", "gtile", "aff", "block",
                         "gpack", "gvendor", "glink", "nvlink"):
            raise LsfError("Bad resource requirement syntax")
    return count, model


# --------------------------------------------------------------------------- -w dependencies

_CONDITIONS = {"done": "afterok", "ended": "afterany", "exit": "afternotok",
               "started": "after", "post_done": "afterok", "post_err": "afternotok"}
_CONDITION = re.compile(r"\s*(?:([a-z_]+)\s*\(\s*([^()]*?)\s*\)|([0-9]+(?:\[[0-9]+\])?))\s*")


def slurm_job_id(text: str) -> str:
    """`123` or `123[4]` → `123` or `123_4`; LsfError (LSF's wording) for anything else."""
    match = re.fullmatch(r"([0-9]+)(?:\[([^\]]*)\])?", text.strip())
    if not match:
        raise LsfError(f"{text}: Illegal job ID")
    if match.group(2) is None:
        return match.group(1)
    if not re.fullmatch(r"[0-9]+", match.group(2)) or int(match.group(2)) < 1:
        raise LsfError(f"{text}: Bad job array index list")
    return f"{match.group(1)}_{match.group(2)}"


def parse_dependency(expr: str, resolve_name: Callable[[str], list[str]]) -> str:
    """`done(12) && ended(13)` → `afterok:12,afterany:13`; `||` becomes Slurm's `?`.

    `resolve_name` turns a job name (wildcards allowed) into job ids. LSF's `!`, parentheses
    and mixed `&&`/`||` have no Slurm equivalent and are refused.
    """
    text = expr.strip()
    if not text:
        raise LsfError("Dependency condition syntax error")
    if "&&" in text and "||" in text or "!" in text:
        raise LsfError(f"{expr}: mixing '&&' with '||', and '!', are not supported by corral")
    separator = "||" if "||" in text else "&&"
    parts: list[tuple[str, list[str]]] = []
    for term in text.split(separator):
        match = _CONDITION.fullmatch(term)
        if not match:
            raise LsfError("Dependency condition syntax error")
        if match.group(3):
            kind, target = "afterok", match.group(3)
        else:
            if match.group(1) not in _CONDITIONS or not match.group(2) or "," in match.group(2):
                raise LsfError("Dependency condition syntax error")
            kind, target = _CONDITIONS[match.group(1)], match.group(2).strip("\"'")
        if re.fullmatch(r"[0-9]+(?:\[[0-9]+\])?", target):
            ids = [slurm_job_id(target)]
        else:
            ids = resolve_name(target)
            if not ids:
                raise LsfError(f"{target}: No matching job found")
        parts.append((kind, ids))
    return slurm_dependency(parts, any_of=separator == "||")


_BACK = {"afterok": "done", "afterany": "ended", "afternotok": "exit", "after": "started"}


def lsf_dependency(slurm: str) -> str:
    """Slurm's dependency string back in LSF's words, for bjobs -l."""
    parsed, any_of = dependency_terms(slurm)
    joiner = " || " if any_of else " && "
    terms = []
    for kind, ids in parsed:
        for job in ids:
            # Slurm marks the state of each condition: `12(failed)`, `13(unfulfilled)`.
            base, _, index = job.split("(", 1)[0].partition("_")
            terms.append(f"{_BACK.get(kind, kind)}({base}{f'[{index}]' if index else ''})")
    return joiner.join(terms) if terms else slurm


# --------------------------------------------------------------------------- the request

def output_pattern(value: str, work_dir: str, suffix: str) -> str:
    """An LSF -o/-e file: %J and %I become corral's %A and %a; a directory gets %J.out/.err."""
    if value.endswith("/") or os.path.isdir(os.path.join(work_dir, value)):
        value = os.path.join(value, f"%J.{suffix}")
    out = []
    i = 0
    while i < len(value):
        pair = value[i:i + 2]
        if pair in ("%J", "%I"):
            out.append("%A" if pair == "%J" else "%a")
            i += 2
        else:
            out.append("%%" if value[i] == "%" else value[i])
            i += 1
    return "".join(out)


def _environment(value: str | None, environ: Mapping[str, str]) -> dict[str, str]:
    """-env "all" | "none" | "all, VAR=v" | "VAR1, VAR2=v" (LSF 10)."""
    if value is None:
        return dict(environ)
    items = [v.strip() for v in value.split(",") if v.strip()]
    env: dict[str, str] = {}
    if items and items[0].lower() in ("all", "none"):
        env = dict(environ) if items[0].lower() == "all" else {}
        items = items[1:]
    for item in items:
        key, eq, val = item.partition("=")
        if eq:
            env[key.strip()] = val
        elif key in environ:
            env[key] = environ[key]
    return env


def parse_begin_time(text: str, now: float) -> float:
    """-b [[[year:]month:]day:]hour:minute → the next such local time, as epoch seconds."""
    parts = text.split(":")
    if not 2 <= len(parts) <= 5 or not all(p.isdigit() for p in parts):
        raise LsfError(f"{text}: Bad time specification")
    values = [int(p) for p in parts]
    n = len(values)
    try:
        # LSF means the next such moment: tomorrow, next month or next year.
        return next_local_time(now, values[-2], values[-1], day=values[-3] if n >= 3 else None,
                               month=values[-4] if n >= 4 else None,
                               year=values[0] if n == 5 else None)
    except ValueError:
        raise LsfError(f"{text}: Bad time specification") from None


class Options:
    """bsub's options from the command line over those of #BSUB lines (LSF's precedence)."""

    def __init__(self, command_line: Sequence[tuple[str, str | None]],
                 script: Sequence[tuple[str, str | None]] = ()) -> None:
        self.values: dict[str, list[str | None]] = {}
        cli_names = {name for name, _ in command_line}
        for name, value in [*[(n, v) for n, v in script if n not in cli_names], *command_line]:
            self.values.setdefault(name, []).append(value)

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def get(self, name: str) -> str | None:
        """The last value given (a repeated option overrides, as in LSF)."""
        values = self.values.get(name)
        return values[-1] if values else None

    def all(self, name: str) -> list[str]:
        return [v for v in self.values.get(name, []) if v is not None]


def check_supported(found: Sequence[tuple[str, str | None]]) -> None:
    for name, _ in found:
        if name in BSUB_UNSUPPORTED:
            raise LsfError(f"-{name}: option not supported by corral")


def build_request(opts: Options, *, script: str, command: str, cwd: str,
                  environ: Mapping[str, str], hostname: str, now: float,
                  resolve_name: Callable[[str], list[str]]) -> dict[str, Any]:
    """The body of POST /api/v1/jobs for a bsub submission."""
    work_dir = os.path.normpath(os.path.join(cwd, opts.get("cwd") or "."))
    request: dict[str, Any] = {
        "script": script if script.startswith("#!") else "#!/bin/sh\n" + script,
        "argv": [], "work_dir": work_dir, "submit_host": hostname, "command": command[:4096],
        "frontend": "lsf", "environment": _environment(opts.get("env"), environ),
    }
    name = opts.get("J")
    if name is not None:
        request["name"], array = parse_job_name(name)
        if array:
            request["array"] = array
    else:
        request["name"] = (command.strip().splitlines() or ["bsub"])[0][:1024] or "bsub"
    slots = parse_slots(opts.get("n") or "1")
    request["num_tasks"] = slots
    if "W" in opts:
        request["time_limit"] = parse_run_limit(opts.get("W") or "")
    if opts.get("q"):
        request["partition"] = opts.get("q")
    res = parse_resreq(opts.all("R"))
    if res.mem_mb is not None:
        request["mem_per_cpu"] = res.mem_mb
    elif opts.get("M"):
        try:
            request["mem_per_node"] = parse_mem_mb(opts.get("M") or "")
        except ValueError:
            raise LsfError(f"{opts.get('M')}: MEMLIMIT value should be a positive integer") from None
    if res.ptile is not None:
        request["ntasks_per_node"] = min(res.ptile, slots)
        request["num_nodes"] = -(-slots // res.ptile)
    elif res.hosts is not None:
        if res.hosts > slots:
            raise LsfError("Bad resource requirement syntax")
        request["num_nodes"] = res.hosts
    if "gpu" in opts:
        request["gpus_per_node"], request["gpu_type"] = parse_gpu(opts.get("gpu") or "")
    elif res.gpus is not None:
        request["gpus_per_node"] = res.gpus
    for option, key, suffix in (("oo", "stdout", "out"), ("o", "stdout", "out"),
                                ("eo", "stderr", "err"), ("e", "stderr", "err")):
        if opts.get(option) and key not in request:
            request[key] = output_pattern(opts.get(option) or "", work_dir, suffix)
    if "oo" in opts or "eo" in opts:
        request["open_mode"] = "truncate"
    elif "o" in opts or "e" in opts:
        request["open_mode"] = "append"
    if opts.get("i"):
        request["stdin"] = opts.get("i")
    if "w" in opts:
        request["dependency"] = parse_dependency(opts.get("w") or "", resolve_name)
    if "b" in opts:
        request["begin_time"] = parse_begin_time(opts.get("b") or "", now)
    request["exclusive"] = "x" in opts
    request["hold"] = "H" in opts
    if "r" in opts or "rn" in opts:
        request["requeue"] = "r" in opts
    mail = [kind for option, kind in (("B", "BEGIN"), ("N", "END")) if option in opts]
    if mail:
        request["mail_type"] = ",".join(mail)
    if opts.get("u"):
        request["mail_user"] = opts.get("u")
    if opts.get("Jd"):
        request["comment"] = opts.get("Jd")
    if opts.get("P"):
        request["account"] = opts.get("P")
    if res.constraint:
        request["constraint"] = res.constraint
    return request
