"""srun's options and input environment variables → a step request (pure: no controller needed).

Options srun takes for the job it may have to create (-p, --mem, -t …) go to the allocation;
those that shape the step (-n, -N, -c, -l, --pty …) to the step. Every other option of srun(1)
is refused by name (REFUSED), honoured only for the values that say what corral does
(ACCEPTED_VALUES), or, for task binding, accepted with no effect (NO_EFFECT); docs/options.md
is the table, pinned by tests/unit/cli/test_option_table.py.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from corral.cli.common.getopt import Option, OptionError, parse
from corral.cli.common.unsupported import first_refused
from corral.cli.slurm.sbatch_options import SbatchError, build_request
from corral.cli.slurm.sbatch_options import _export as exported_environment

OPTIONS = [
    Option("nodes", "N"), Option("ntasks", "n"), Option("cpus-per-task", "c"),
    Option("ntasks-per-node"), Option("label", "l", False), Option("gpus-per-task"),
    Option("gpus", "G"), Option("gpus-per-node"), Option("gres"), Option("job-name", "J"),
    Option("output", "o"), Option("error", "e"), Option("input", "i"),
    Option("unbuffered", "u", False), Option("pty", None, False), Option("jobid"),
    Option("export"), Option("chdir", "D"), Option("partition", "p"), Option("time", "t"),
    Option("mem"), Option("mem-per-cpu"), Option("mem-per-gpu"), Option("cpus-per-gpu"),
    Option("nodelist", "w"), Option("exclude", "x"),
    Option("exclusive", takes_value=True, optional_value=True), Option("account", "A"),
    Option("qos", "q"), Option("overcommit", "O", False), Option("overlap", None, False),
    Option("quit-on-interrupt", None, False), Option("disable-status", "X", False),
    Option("kill-on-bad-exit", "K", True, True), Option("cpu-bind"), Option("mpi"),
    Option("distribution", "m"), Option("mem-bind"), Option("hint"), Option("gpu-bind"),
    Option("propagate", None, True, True), Option("open-mode"), Option("signal"),
    Option("oversubscribe", "s", False), Option("comment"), Option("constraint", "C"),
    Option("reservation"), Option("exact", None, False), Option("whole", None, False),
    Option("nice", None, True, True), Option("time-min"), Option("wckey"), Option("network"),
    Option("immediate", "I", True, True), Option("wait", "W"), Option("no-kill", "k", True, True),
    Option("threads-per-core"), Option("ntasks-per-core"), Option("ntasks-per-socket"),
    Option("sockets-per-node"), Option("cores-per-socket"), Option("spread-job", None, False),
    Option("quiet", "Q", False), Option("verbose", "v", False), Option("help", "h", False),
    Option("usage", None, False), Option("version", "V", False),
    # Job options srun hands to the allocation it creates (as sbatch reads them).
    Option("begin", "b"), Option("deadline"), Option("dependency", "d"),
    Option("hold", "H", False), Option("mail-type"), Option("mail-user"),
    # Refused by name (REFUSED below): the rest of srun(1)'s options.
    Option("accel-bind"), Option("acctg-freq"), Option("bb"), Option("bbf"),
    Option("bcast", None, True, True), Option("bcast-exclude"), Option("batch"),
    Option("clusters", "M"), Option("cluster-constraint"), Option("compress", None, True, True),
    Option("container"), Option("contiguous", None, False), Option("core-spec", "S"),
    Option("cpu-freq"), Option("delay-boot"), Option("epilog"), Option("extra-node-info", "B"),
    Option("gid"), Option("gpu-freq"), Option("gpus-per-socket"), Option("gres-flags"),
    Option("het-group"), Option("licenses", "L"), Option("mcs-label"), Option("mincpus"),
    Option("multi-prog", None, False), Option("no-allocate", "Z", False),
    Option("nodefile", "F"), Option("ntasks-per-gpu"), Option("power"), Option("prefer"),
    Option("preserve-env", "E", False), Option("priority"), Option("profile"),
    Option("prolog"), Option("reboot", None, False), Option("relative", "r"),
    Option("resv-ports", None, True, True), Option("send-libs", None, True, True),
    Option("slurmd-debug"), Option("switches"), Option("task-epilog"), Option("task-prolog"),
    Option("test-only", None, False), Option("thread-spec"), Option("threads", "T"),
    Option("tmp"), Option("uid"), Option("use-min-nodes", None, False),
    Option("x11", None, True, True),
]

# srun(1)'s options that corral cannot honour: refused by name (cli/common/unsupported.py), never
# dropped. docs/options.md says why, option by option.
REFUSED = (
    "reservation", "immediate", "network", "spread-job", "no-kill", "wait", "propagate",
    "threads-per-core", "ntasks-per-core", "ntasks-per-socket", "sockets-per-node",
    "cores-per-socket", "accel-bind", "acctg-freq", "bb", "bbf", "bcast", "bcast-exclude",
    "batch", "cluster-constraint", "compress", "container", "contiguous",
    "core-spec", "cpu-freq", "delay-boot", "epilog", "extra-node-info", "gid", "gpu-freq",
    "gpus-per-socket", "gres-flags", "het-group", "licenses", "mcs-label", "mincpus",
    "multi-prog", "no-allocate", "nodefile", "ntasks-per-gpu", "power", "prefer",
    "preserve-env", "priority", "profile", "prolog", "reboot", "relative", "resv-ports",
    "send-libs", "slurmd-debug", "switches", "task-epilog", "task-prolog", "test-only",
    "thread-spec", "threads", "tmp", "uid", "use-min-nodes", "x11",
)
# Honoured for the values that describe what corral does, refused for the others: tasks are
# laid out in blocks (Slurm's default), so -m cyclic would be misread.
ACCEPTED_VALUES = {"distribution": ("block", "*")}
# Accepted with no effect, as on a Slurm with TaskPlugin=task/none and no MPI plugin: corral
# confines a job to its CPUs with cgroups but does not pin tasks within them, and serves no
# PMI (tasks get SLURM_PROCID/SLURM_NTASKS, which is what tools' --mpi=pmix lines need when
# their tasks are not MPI programs). --verbose only adds logs.
NO_EFFECT = ("cpu-bind", "mem-bind", "gpu-bind", "hint", "mpi", "verbose")

# The options srun hands to the allocation it creates when run outside of one.
JOB_OPTIONS = ("nodes", "ntasks", "cpus-per-task", "ntasks-per-node", "gpus-per-task", "gpus",
               "gpus-per-node", "gres", "job-name", "export", "chdir", "partition", "time",
               "mem", "mem-per-cpu", "mem-per-gpu", "cpus-per-gpu", "nodelist", "exclude",
               "exclusive", "account", "qos", "comment", "constraint", "nice", "time-min",
               "signal", "wckey", "begin", "deadline", "dependency", "hold", "mail-type",
               "mail-user")

# Input environment variables (srun's man page), read when the option is not given.
ENVIRONMENT = (("ntasks", "SLURM_NTASKS"), ("nodes", "SLURM_NNODES"),
               ("cpus-per-task", "SLURM_CPUS_PER_TASK"), ("ntasks-per-node", "SLURM_NTASKS_PER_NODE"),
               ("label", "SLURM_LABELIO"), ("unbuffered", "SLURM_UNBUFFEREDIO"),
               ("open-mode", "SLURM_OPEN_MODE"))


class SrunError(Exception):
    """A bad request; `lines` are printed as `srun: error: LINE` (or as given, for getopt's)."""

    def __init__(self, *lines: str, code: int = 1) -> None:
        super().__init__(lines[0])
        self.lines = lines
        self.code = code


class SrunOptions:
    """What the command line and environment ask for (a plain class: see getopt.Option)."""

    def __init__(self, values: dict[str, str | None], argv: list[str],
                 from_command_line: set[str]) -> None:
        self.values = values
        self.argv = argv
        self.given = from_command_line

    def number(self, option: str, minimum: int = 1) -> int | None:
        value = self.values.get(option)
        if value is None:
            return None
        text = str(value).split("-")[0] if option == "nodes" else str(value)
        try:
            number = int(text)
        except ValueError:
            raise SrunError(f'Invalid numeric value "{value}" for --{option}.') from None
        if number < minimum:
            raise SrunError(f"Invalid --{option} specification")
        return number

    def flag(self, option: str) -> bool:
        if option not in self.values:
            return False
        value = self.values[option]
        return value is None or str(value).lower() not in ("0", "no", "false")

    @property
    def job_id(self) -> int | None:
        value = self.values.get("jobid")
        if value is None:
            return None
        base = str(value).split(".")[0]
        if not base.isdigit():
            raise SrunError(f"Invalid job id specified: {value}")
        return int(base)


def node_range(text: str) -> tuple[int, int | None]:
    """-N min[-max] → (min, max or None), in srun's wording when malformed."""
    low, dash, high = text.partition("-")
    try:
        minimum, maximum = int(low), int(high) if dash else None
    except ValueError:
        raise SrunError(f"invalid node count `{text}'") from None
    if minimum < 1 or (maximum is not None and maximum < minimum):
        raise SrunError(f"invalid node count `{text}'")
    return minimum, maximum


def parse_command_line(argv: Sequence[str], environ: Mapping[str, str]) -> SrunOptions:
    try:
        found, rest = parse("srun", argv, OPTIONS)
    except OptionError as exc:
        raise SrunError(str(exc), code=255) from None
    refused = first_refused(found, REFUSED, ACCEPTED_VALUES)
    if refused:
        raise SrunError(refused)
    values = dict(found)
    if values.get("nodes") is not None:
        node_range(str(values["nodes"]))  # checked before anything is asked of the controller
    given = set(values)
    for option, variable in ENVIRONMENT:
        if option in values or not environ.get(variable):
            continue
        # An explicit node count or tasks-per-node outranks a task count the job passed down.
        if option == "ntasks" and given & {"nodes", "ntasks-per-node"}:
            continue
        values[option] = environ[variable]
    if "jobid" not in values:
        job_id = environ.get("SLURM_JOB_ID") or environ.get("SLURM_JOBID")
        if job_id:
            values["jobid"] = job_id
    return SrunOptions(values, list(rest), given)


def step_request(opts: SrunOptions, *, cwd: str, environ: Mapping[str, str],
                 allocated_nodes: int | None = None) -> dict[str, Any]:
    """The body of POST /jobs/{id}/steps, less srun's I/O address and key. `-N min-max`
    takes as many of the job's `allocated_nodes` as max allows (at least min)."""
    if not opts.argv:
        raise SrunError("No command given to execute.")
    ntasks = opts.number("ntasks")
    nodes = opts.number("nodes")
    if nodes is not None and allocated_nodes:
        maximum = node_range(str(opts.values["nodes"]))[1]
        if maximum is not None:
            nodes = max(nodes, min(maximum, allocated_nodes))
    if ntasks is not None and nodes is not None and ntasks < nodes:
        if {"ntasks", "nodes"} <= opts.given:
            print(f"srun: warning: can't run {ntasks} processes on {nodes} nodes, "
                  f"setting nnodes to {ntasks}", file=sys.stderr)
        nodes = ntasks
    body: dict[str, Any] = {
        "argv": list(opts.argv),
        "work_dir": os.path.normpath(os.path.join(cwd, opts.values.get("chdir") or ".")),
        "ntasks": ntasks, "nodes": nodes, "cpus_per_task": opts.number("cpus-per-task") or 1,
        "ntasks_per_node": opts.number("ntasks-per-node"),
        "gpus_per_task": opts.number("gpus-per-task", 0),
        "overcommit": opts.flag("overcommit") or opts.flag("oversubscribe"),
        "environment": exported_environment(opts.values.get("export"), environ),
        "label": opts.flag("label"), "pty": opts.flag("pty"),
        "name": opts.values.get("job-name") or None,
    }
    return body


def allocation_request(opts: SrunOptions, *, cwd: str, environ: Mapping[str, str],
                       hostname: str, now: float) -> dict[str, Any]:
    """The job srun creates when it runs outside an allocation (named after the command)."""
    values = {k: v for k, v in opts.values.items() if k in JOB_OPTIONS}
    name = os.path.basename(opts.argv[0]) if opts.argv else "srun"
    try:
        request = build_request(values, script="", script_args=[], default_name=name, cwd=cwd,
                                environ=environ, hostname=hostname, command=" ".join(opts.argv),
                                now=now)
    except SbatchError as exc:
        raise SrunError(*exc.lines, code=exc.code) from None
    request["interactive"] = True
    return request


def expand_io_pattern(pattern: str, *, job_id: int, step_id: int, procid: int, nodeid: int,
                      node: str, user: str, name: str, array_job_id: int | None = None,
                      array_task_id: int | None = None) -> str:
    """srun's --output/--error patterns: %j %J %s %t %n %N %u %x %A %a %%, with an optional
    zero-padding width (%3t → 007). A step inside an array task names the array's ids (what
    submitit's `srun --output DIR/%A_%a_%t.out` relies on); elsewhere %A is the job and %a
    Slurm's NO_VAL - 1."""
    fields = {"j": str(job_id), "J": f"{job_id}.{step_id}", "s": str(step_id), "t": str(procid),
              "n": str(nodeid), "N": node, "u": user, "x": name,
              "A": str(array_job_id if array_job_id is not None else job_id),
              "a": str(array_task_id if array_task_id is not None else 4294967294)}
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] != "%" or i + 1 >= len(pattern):
            out.append(pattern[i])
            i += 1
            continue
        j = i + 1
        while j < len(pattern) and pattern[j].isdigit():
            j += 1
        if j >= len(pattern):
            out.append(pattern[i:])
            break
        code, width = pattern[j], pattern[i + 1:j]
        if code == "%":
            out.append("%")
        elif code in fields:
            value = fields[code]
            out.append(value.zfill(int(width)) if width and value.isdigit() else value)
        else:
            out.append(pattern[i:j + 1])
        i = j + 1
    return "".join(out)


def per_task_pattern(pattern: str) -> bool:
    """Whether a pattern names a file per task (or per node) rather than one for the step."""
    i = 0
    while i < len(pattern) - 1:
        if pattern[i] == "%":
            j = i + 1
            while j < len(pattern) and pattern[j].isdigit():
                j += 1
            if j < len(pattern) and pattern[j] in "tnN":
                return True
            i = j + 1
            continue
        i += 1
    return False
