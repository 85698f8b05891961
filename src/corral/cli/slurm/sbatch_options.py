"""sbatch's options and #SBATCH directives → a job request (pure: no controller needed)."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from corral.cli.common.getopt import Option, OptionError, parse
from corral.cli.common.unsupported import first_refused
from corral.model.gpu_request import gpu_derived
from corral.model.hostlist import expand
from corral.model.signals import parse_warning_signal
from corral.model.timefmt import parse_memory_mb, parse_time_limit, parse_timestamp

OPTIONS = [
    Option("job-name", "J"), Option("partition", "p"), Option("nodes", "N"),
    Option("ntasks", "n"), Option("cpus-per-task", "c"), Option("ntasks-per-node"),
    Option("mem"), Option("mem-per-cpu"), Option("time", "t"), Option("output", "o"),
    Option("error", "e"), Option("input", "i"), Option("chdir", "D"), Option("export"),
    Option("gres"), Option("gpus", "G"), Option("gpus-per-node"), Option("nodelist", "w"),
    Option("exclude", "x"), Option("exclusive", takes_value=True, optional_value=True),
    Option("hold", "H", takes_value=False), Option("account", "A"), Option("qos", "q"),
    Option("parsable", takes_value=False), Option("wait", "W", takes_value=False),
    Option("test-only", takes_value=False), Option("wrap"), Option("requeue", takes_value=False),
    Option("no-requeue", takes_value=False), Option("nice", takes_value=True, optional_value=True),
    Option("comment"), Option("mail-type"), Option("mail-user"), Option("constraint", "C"),
    Option("open-mode"), Option("quiet", "Q", takes_value=False),
    Option("verbose", "v", takes_value=False), Option("help", "h", takes_value=False),
    Option("usage", takes_value=False), Option("version", "V", takes_value=False),
    Option("array", "a"), Option("dependency", "d"), Option("kill-on-invalid-dep"),
    Option("begin", "b"), Option("deadline"), Option("time-min"), Option("signal"),
    Option("export-file"), Option("get-user-env", takes_value=True, optional_value=True),
    Option("gpus-per-task"), Option("cpus-per-gpu"), Option("mem-per-gpu"), Option("wckey"),
    Option("clusters", "M"),
    # Accepted with no effect (NO_EFFECT below).
    Option("distribution", "m"), Option("gpu-bind"), Option("hint"), Option("mem-bind"),
    Option("ignore-pbs", takes_value=False), Option("wait-all-nodes"),
    # Refused by name (REFUSED below): the rest of sbatch(1)'s options.
    Option("acctg-freq"), Option("batch"), Option("bb"), Option("bbf"),
    Option("cluster-constraint"), Option("container"), Option("contiguous", takes_value=False),
    Option("core-spec", "S"), Option("cores-per-socket"), Option("cpu-freq"),
    Option("delay-boot"), Option("extra-node-info", "B"), Option("gid"), Option("gpu-freq"),
    Option("gpus-per-socket"), Option("gres-flags"), Option("licenses", "L"),
    Option("mcs-label"), Option("mincpus"), Option("network"),
    Option("no-kill", "k", takes_value=True, optional_value=True), Option("nodefile", "F"),
    Option("ntasks-per-core"), Option("ntasks-per-gpu"), Option("ntasks-per-socket"),
    Option("overcommit", "O", takes_value=False), Option("oversubscribe", "s", takes_value=False),
    Option("power"), Option("prefer"), Option("priority"), Option("profile"),
    Option("propagate", takes_value=True, optional_value=True), Option("reboot", takes_value=False),
    Option("reservation"), Option("sockets-per-node"), Option("spread-job", takes_value=False),
    Option("switches"), Option("thread-spec"), Option("threads-per-core"), Option("tmp"),
    Option("uid"), Option("use-min-nodes", takes_value=False),
]

# sbatch(1)'s options that corral cannot honour: refused by name (cli/common/unsupported.py) on the
# command line, in #SBATCH directives and from SBATCH_* variables alike, never dropped.
# docs/options.md says why, option by option; salloc shares the list (cli/slurm/salloc.py).
REFUSED = (
    "acctg-freq", "batch", "bb", "bbf", "cluster-constraint", "container", "contiguous",
    "core-spec", "cores-per-socket", "cpu-freq", "delay-boot", "extra-node-info", "gid",
    "gpu-freq", "gpus-per-socket", "gres-flags", "licenses", "mcs-label", "mincpus", "network",
    "no-kill", "nodefile", "ntasks-per-core", "ntasks-per-gpu", "ntasks-per-socket",
    "overcommit", "oversubscribe", "power", "prefer", "priority", "profile", "propagate",
    "reboot", "reservation", "sockets-per-node", "spread-job", "switches", "thread-spec",
    "threads-per-core", "tmp", "uid", "use-min-nodes",
)
# Honoured for the values that describe what corral does (tasks are laid out in blocks,
# Slurm's default), refused for the others, as srun does.
ACCEPTED_VALUES = {"distribution": ("block", "*")}
# Accepted with no effect, each for the reason docs/options.md gives: binding as on a Slurm
# with TaskPlugin=task/none, nodes that need no boot (--wait-all-nodes), #PBS lines that
# corral's sbatch never reads (--ignore-pbs), the submitting environment (--get-user-env).
NO_EFFECT = ("distribution", "gpu-bind", "hint", "mem-bind", "ignore-pbs", "wait-all-nodes",
             "get-user-env", "verbose")


class SbatchError(Exception):
    """A bad request; `lines` are printed as `sbatch: error: LINE`; exit `code`."""

    def __init__(self, *lines: str, code: int = 1) -> None:
        super().__init__(lines[0])
        self.lines = lines
        self.code = code


@dataclass
class Parsed:
    values: dict[str, str | None] = field(default_factory=dict)
    script_path: str | None = None
    script_args: list[str] = field(default_factory=list)


def parse_command_line(argv: Sequence[str]) -> Parsed:
    try:
        found, rest = parse("sbatch", argv, OPTIONS)
    except OptionError as exc:
        raise SbatchError(str(exc), code=255) from None
    parsed = Parsed(dict(found))
    if rest:
        parsed.script_path, parsed.script_args = rest[0], rest[1:]
    return parsed


def directives(script: str) -> list[str]:
    """The #SBATCH arguments, read until the first command line, as Slurm does: words split
    on any run of blanks (`#SBATCH --job-name            x` is `--job-name x`), quotes kept
    together, and an unquoted ` #` starts a comment."""
    args: list[str] = []
    for number, line in enumerate(script.splitlines()[1:], start=2):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#"):
            break
        word = stripped.split(None, 1)
        if word[0] != "#SBATCH":
            continue  # another comment, or #SBATCHX: not a directive
        text = word[1] if len(word) > 1 else ""
        try:
            lexer = shlex.shlex(text, posix=True, punctuation_chars=False)
            lexer.whitespace_split = True
            lexer.commenters = ""
            words = list(lexer)
        except ValueError:
            raise SbatchError(f"line {number}: unmatched quote in #SBATCH directive: {text}",
                              code=255) from None
        for i, item in enumerate(words):
            if item.startswith("#"):  # a comment after the options
                words = words[:i]
                break
        args.extend(words)
    return args


def parse_directives(script: str) -> dict[str, str | None]:
    """The #SBATCH options, read by the command line's own parser and worded alike; a word
    that is not an option is refused, as sbatch does, rather than dropped."""
    try:
        found, rest = parse("sbatch", directives(script), OPTIONS)
    except OptionError as exc:
        raise SbatchError(str(exc), code=255) from None
    if rest:
        raise SbatchError(f"Invalid directive found in batch script: {rest[0]}", code=255)
    return dict(found)


# sbatch's INPUT ENVIRONMENT VARIABLES (Slurm 22.05's man page, SBATCH_ and SALLOC_ alike):
# each stands for the option it names, below the command line and above the directives.
_INPUT_ENVIRONMENT = {
    "ACCOUNT": "account", "ACCTG_FREQ": "acctg-freq", "CLUSTERS": "clusters",
    "CONSTRAINT": "constraint", "CONTAINER": "container", "CORE_SPEC": "core-spec",
    "CPUS_PER_GPU": "cpus-per-gpu", "DEBUG": "verbose", "DELAY_BOOT": "delay-boot",
    "DISTRIBUTION": "distribution", "EXCLUSIVE": "exclusive", "GET_USER_ENV": "get-user-env",
    "GPU_BIND": "gpu-bind", "GPU_FREQ": "gpu-freq", "GPUS": "gpus",
    "GPUS_PER_NODE": "gpus-per-node", "GPUS_PER_TASK": "gpus-per-task", "GRES": "gres",
    "GRES_FLAGS": "gres-flags", "HINT": "hint", "JOB_NAME": "job-name", "MEM_BIND": "mem-bind",
    "MEM_PER_CPU": "mem-per-cpu", "MEM_PER_GPU": "mem-per-gpu", "MEM_PER_NODE": "mem",
    "NETWORK": "network", "NO_KILL": "no-kill", "OVERCOMMIT": "overcommit",
    "PARTITION": "partition", "POWER": "power", "PROFILE": "profile", "QOS": "qos",
    "REQ_SWITCH": "switches", "RESERVATION": "reservation", "SIGNAL": "signal",
    "SPREAD_JOB": "spread-job", "THREAD_SPEC": "thread-spec", "TIMELIMIT": "time",
    "USE_MIN_NODES": "use-min-nodes", "WAIT_ALL_NODES": "wait-all-nodes",
    "WAIT4SWITCH": "switches", "WCKEY": "wckey",
}
SBATCH_ENVIRONMENT = {
    **{f"SBATCH_{k}": v for k, v in _INPUT_ENVIRONMENT.items()},
    "SBATCH_ARRAY_INX": "array", "SBATCH_BATCH": "batch", "SBATCH_ERROR": "error",
    "SBATCH_EXPORT": "export", "SBATCH_IGNORE_PBS": "ignore-pbs", "SBATCH_INPUT": "input",
    "SBATCH_NO_REQUEUE": "no-requeue", "SBATCH_OPEN_MODE": "open-mode",
    "SBATCH_OUTPUT": "output", "SBATCH_REQUEUE": "requeue", "SBATCH_WAIT": "wait",
    "SLURM_CLUSTERS": "clusters",
}
SALLOC_ENVIRONMENT = {
    **{f"SALLOC_{k}": v for k, v in _INPUT_ENVIRONMENT.items()},
    "SALLOC_BELL": "bell", "SALLOC_IMMEDIATE": "immediate", "SALLOC_KILL_CMD": "kill-command",
    "SALLOC_NO_BELL": "no-bell", "SLURM_CLUSTERS": "clusters",
}
# Options that undo each other: the one from the higher layer wins, as in Slurm.
_OPPOSITES = {"requeue": "no-requeue", "no-requeue": "requeue", "bell": "no-bell",
              "no-bell": "bell"}


def environment_options(prog: str, environ: Mapping[str, str], table: Mapping[str, str],
                        options: Sequence[Option]) -> dict[str, str | None]:
    """The options the input environment variables give. One we do not implement is refused
    by name rather than ignored: a job must not run on other terms than its user set.
    SLURM_CONF (and every variable not in the table) is not ours to read and is left alone."""
    known = {o.long: o for o in options}
    values: dict[str, str | None] = {}
    for variable, option in table.items():
        if variable not in environ:
            continue
        if option not in known:
            raise SbatchError(f"{variable} (--{option}) is not supported by {prog}", code=1)
        if option == "clusters" and not environ[variable]:
            continue
        values[option] = environ[variable] if known[option].takes_value else None
    return values


def check_supported(values: Mapping[str, str | None], refused: Sequence[str] = REFUSED) -> None:
    """Refuses, by name, the first option corral cannot honour, wherever it came from (command
    line, directive or input variable): the job must not run on other terms than asked."""
    refusal = first_refused(values.items(), refused, ACCEPTED_VALUES)
    if refusal is not None:
        raise SbatchError(refusal, code=1)


def merge(*layers: Mapping[str, str | None]) -> dict[str, str | None]:
    """One request from the layers, lowest first: directives, environment, command line."""
    merged: dict[str, str | None] = {}
    for layer in layers:
        for option, value in layer.items():
            if option in _OPPOSITES:
                merged.pop(_OPPOSITES[option], None)
            merged[option] = value
    return merged


def wrap_script(command: str) -> str:
    return f"#!/bin/sh\n# This script was generated by sbatch --wrap.\n\n{command}\n"


def _int(value: str | None, option: str, minimum: int = 1) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise SbatchError(f"Invalid numeric value \"{value}\" for --{option}.", code=255) from None
    if number < minimum:
        raise SbatchError(f"Invalid --{option} specification", code=255)
    return number


def _nodes(value: str) -> tuple[int, int]:
    """-N min[-max] → (min, max); one number is both, as Slurm reads it."""
    low, dash, high = value.partition("-")
    if not low.isdigit() or (dash and not high.isdigit()):
        raise SbatchError(f"Invalid node count specification: {value}", code=255)
    minimum = _int(low, "nodes")
    maximum = _int(high, "nodes") if dash else minimum
    if maximum < minimum:
        raise SbatchError(f"Invalid node count specification: {value}", code=255)
    return minimum, maximum


def _gres(value: str) -> tuple[int, str | None]:
    """--gres=gpu[:type]:N → (N, type)."""
    for item in value.split(","):
        parts = item.split(":")
        if parts[0] != "gpu":
            raise SbatchError(f"Invalid generic resource (gres) specification: {value}")
        if len(parts) == 1:
            return 1, None
        if len(parts) == 2:
            return (_int(parts[1], "gres", 0), None) if parts[1].isdigit() else (1, parts[1])
        return _int(parts[2], "gres", 0), parts[1]
    raise SbatchError(f"Invalid generic resource (gres) specification: {value}")


def _export(value: str | None, environ: Mapping[str, str]) -> dict[str, str]:
    if value is None or value.upper() == "ALL":
        return dict(environ)
    items = [v for v in value.split(",") if v]
    env: dict[str, str] = {}
    if items and items[0].upper() == "ALL":
        env = dict(environ)
        items = items[1:]
    elif items and items[0].upper() == "NONE":
        items = items[1:]
    for item in items:
        key, eq, val = item.partition("=")
        if eq:
            env[key] = val
        elif key in environ:
            env[key] = environ[key]
    return env


def _export_file(path: str) -> dict[str, str]:
    """--export-file: NUL- or newline-separated NAME=value lines (Slurm accepts either)."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            text = handle.read()
    except OSError:
        raise SbatchError(f"Unable to open export file {path}") from None
    separator = "\0" if "\0" in text else "\n"
    pairs = (item.partition("=") for item in text.split(separator) if "=" in item)
    return {key: value for key, _, value in pairs}


def _when(value: str | None, option: str, now: float) -> float:
    try:
        return parse_timestamp(str(value), now, past=False)
    except ValueError:
        raise SbatchError(f"Invalid --{option} specification", code=255) from None


def _signal(value: str) -> str:
    """--signal=[{R|B}:]SIG[@secs] → kept as given once it is known to be valid."""
    try:
        parse_warning_signal(value)
    except ValueError:
        raise SbatchError("Invalid --signal specification", code=255) from None
    return value


def _extras(values: Mapping[str, str | None], request: dict[str, Any], now: float) -> None:
    """The options beyond sizes and paths: arrays, dependencies, times, mail, GPUs per task."""
    for option, key in (("array", "array"), ("dependency", "dependency"), ("comment", "comment"),
                        ("mail-type", "mail_type"), ("mail-user", "mail_user"),
                        ("constraint", "constraint"), ("wckey", "wckey")):
        if values.get(option):
            request[key] = str(values[option])
    if values.get("kill-on-invalid-dep"):
        request["kill_on_invalid_dep"] = str(values["kill-on-invalid-dep"]).lower() in ("yes", "y")
    if values.get("begin"):
        request["begin_time"] = _when(values["begin"], "begin", now)
    if values.get("deadline"):
        request["deadline"] = _when(values["deadline"], "deadline", now)
    if values.get("time-min"):
        try:
            request["time_min"] = parse_time_limit(str(values["time-min"]))
        except ValueError:
            raise SbatchError("Invalid --time-min specification", code=255) from None
    if values.get("signal"):
        request["signal"] = _signal(str(values["signal"]))
    if values.get("open-mode"):
        mode = str(values["open-mode"]).lower()
        if mode not in ("append", "truncate"):
            raise SbatchError(f"Invalid --open-mode specification: {values['open-mode']}", code=255)
        request["open_mode"] = mode
    for option, key in (("gpus-per-task", "gpus_per_task"), ("cpus-per-gpu", "cpus_per_gpu")):
        if values.get(option):
            request[key] = _int(values[option], option, 0 if option == "gpus-per-task" else 1)
    if values.get("mem-per-gpu"):
        try:
            request["mem_per_gpu"] = parse_memory_mb(str(values["mem-per-gpu"]))
        except ValueError:
            raise SbatchError(f"invalid memory constraint: {values['mem-per-gpu']}", code=255) from None
    _gpu_derived(request)


def _gpu_derived(request: dict[str, Any]) -> None:
    """--gpus-per-task, --cpus-per-gpu and --mem-per-gpu fix what a node must hold: the rule is
    model.gpu_request's, which the controller applies to every request too (so a body sent by
    hand is sized as this one); applied here as well for the job's echoed SLURM_* variables."""
    request.update(gpu_derived(request))


def build_request(values: Mapping[str, str | None], *, script: str, script_args: Sequence[str],
                  default_name: str, cwd: str, environ: Mapping[str, str],
                  hostname: str, command: str, now: float = 0.0) -> dict[str, Any]:
    """The body of POST /api/v1/jobs (`now` reads relative times such as --begin=now+1hour)."""
    request: dict[str, Any] = {
        "name": values.get("job-name") or default_name, "script": script,
        "argv": list(script_args), "submit_host": hostname, "command": command,
    }
    work_dir = values.get("chdir") or cwd
    request["work_dir"] = os.path.normpath(os.path.join(cwd, work_dir))
    if "time" in values:
        try:
            request["time_limit"] = parse_time_limit(str(values["time"]))
        except ValueError:
            raise SbatchError("Invalid --time specification", code=255) from None
    for option, key in (("mem", "mem_per_node"), ("mem-per-cpu", "mem_per_cpu")):
        if option in values:
            try:
                request[key] = parse_memory_mb(str(values[option]))
            except ValueError:
                raise SbatchError(f"invalid memory constraint: {values[option]}", code=255) from None
    if "nodes" in values:
        request["num_nodes"], request["max_nodes"] = _nodes(str(values["nodes"]))
    if "ntasks" in values:
        request["num_tasks"] = _int(values["ntasks"], "ntasks")
    if "cpus-per-task" in values:
        request["cpus_per_task"] = _int(values["cpus-per-task"], "cpus-per-task")
    if "ntasks-per-node" in values:
        per_node = request["ntasks_per_node"] = _int(values["ntasks-per-node"], "ntasks-per-node")
        if "num_tasks" in request and "nodes" not in values:
            # -n 4 --ntasks-per-node=2: Slurm's node count is the tasks over the per-node count
            request["num_nodes"] = request["max_nodes"] = -(-request["num_tasks"] // per_node)
        request.setdefault("num_tasks", per_node * request.get("num_nodes", 1))
    if values.get("gres"):
        request["gpus_per_node"], request["gpu_type"] = _gres(str(values["gres"]))
    for option in ("gpus", "gpus-per-node"):
        if values.get(option):
            text = str(values[option])
            gpu_type, _, count = text.rpartition(":")
            number = _int(count, option, 0)
            # --gpus is over the whole job: the controller spreads it over the nodes
            request["gpus" if option == "gpus" else "gpus_per_node"] = number
            request["gpu_type"] = gpu_type or None
    for option, key in (("nodelist", "req_nodes"), ("exclude", "exc_nodes")):
        if values.get(option):
            try:
                request[key] = expand(str(values[option]))
            except ValueError:
                raise SbatchError(f"Invalid node name specified: {values[option]}") from None
    if "req_nodes" in request and "nodes" not in values:
        request["num_nodes"] = len(request["req_nodes"])
    for option, key in (("output", "stdout"), ("error", "stderr"), ("input", "stdin"),
                        ("partition", "partition"), ("account", "account"), ("qos", "qos")):
        if values.get(option):
            request[key] = values[option]
    request["exclusive"] = "exclusive" in values
    request["hold"] = "hold" in values
    if "no-requeue" in values:
        request["requeue"] = False
    if "nice" in values:
        request["nice"] = _int(values["nice"] or "100", "nice", -2147483645)
    environment = _export(values.get("export"), environ)
    if values.get("export-file"):
        environment.update(_export_file(str(values["export-file"])))
    _extras(values, request, now)
    request["environment"] = {**environment, **_echoed(values, request, environment)}
    for variable, _, _ in _ECHOED:
        if request["environment"][variable] is None:
            # Not asked for here: a value inherited from an enclosing job (sbatch run inside
            # one) must not size this job's steps, which read these as srun's input.
            del request["environment"][variable]
    return request


# The variables sbatch puts in the job's environment for the options it was given, as Slurm's
# does (sbatch/opt.c): SLURM_CPUS_PER_TASK=1 is there when -c 1 was asked for, absent when not.
_ECHOED = (
    ("SLURM_CPUS_PER_TASK", "cpus-per-task", "cpus_per_task"),
    ("SLURM_NTASKS", "ntasks", "num_tasks"), ("SLURM_NPROCS", "ntasks", "num_tasks"),
    ("SLURM_NTASKS_PER_NODE", "ntasks-per-node", "ntasks_per_node"),
    ("SLURM_MEM_PER_NODE", "mem", "mem_per_node"),
    ("SLURM_MEM_PER_CPU", "mem-per-cpu", "mem_per_cpu"),
    ("SLURM_MEM_PER_GPU", "mem-per-gpu", "mem_per_gpu"),
    ("SLURM_GPUS", "gpus", None), ("SLURM_GPUS_PER_NODE", "gpus-per-node", None),
    ("SLURM_GPUS_PER_TASK", "gpus-per-task", "gpus_per_task"),
    ("SLURM_CPUS_PER_GPU", "cpus-per-gpu", "cpus_per_gpu"),
    ("SLURM_JOB_DEPENDENCY", "dependency", "dependency"),
    ("SLURM_EXPORT_ENV", "export", None), ("SLURM_OPEN_MODE", "open-mode", None),
)


def _echoed(values: Mapping[str, str | None], request: Mapping[str, Any],
            environment: Mapping[str, str]) -> dict[str, str | None]:
    """Each echoed variable: its value when the option was given, else None (to drop)."""
    out: dict[str, str | None] = {}
    for variable, option, key in _ECHOED:
        if option not in values:
            out[variable] = None
        elif key is not None and key in request:
            out[variable] = str(request[key])
        else:
            out[variable] = str(values[option] or "")
    if out["SLURM_OPEN_MODE"] is not None:  # Slurm writes the mode's initial, as it reads it
        out["SLURM_OPEN_MODE"] = out["SLURM_OPEN_MODE"][:1].lower()
    return out
