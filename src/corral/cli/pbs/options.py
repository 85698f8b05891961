"""qsub's options and #PBS directives → a corral job request, in PBS Pro's wording (pure).

PBS parses in two places: qsub itself rejects malformed options (`qsub: illegal -l value`,
usage, exit 2; inside a script `qsub: directive error: ...`, exit 1), and the server rejects
values it cannot use (`qsub: Illegal attribute or resource value Resource_List.walltime`),
exiting with its error number, which exit() truncates to eight bits. Both are kept here.
The -l resource lists themselves are read in corral.cli.pbs.resources.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from corral.cli.common.getopt import POSIX, letters, scan
from corral.cli.common.runner import run_command
from corral.cli.common.translate import DEPENDENCY_KINDS, next_local_time, slurm_dependency
from corral.cli.pbs.resources import RESOURCE_ERROR, apply_resources, parse_resource_list
from corral.client import Client, ClientError, ControllerUnreachable

# PBS error numbers as qsub/qstat/qdel exit with them (PBSE_* & 0xff).
EXIT_BADATVAL = 15014 & 0xFF
EXIT_UNKJOBID = 15001 & 0xFF
EXIT_HISTJOBID = 15139 & 0xFF
EXIT_UNKQUE = 15018 & 0xFF
EXIT_EXCQRESC = 15036 & 0xFF
EXIT_PERM = 15007 & 0xFF

QSUB_SPEC = "a:A:c:C:e:fGhIj:J:k:l:m:M:N:o:p:P:q:r:R:S:u:v:VW:Xz"
# Every option of PBS Pro's qsub is in QSUB_SPEC, so none is misread as a script; each is
# implemented, has no effect (QSUB_NO_EFFECT) or is refused by name (QSUB_REFUSED), as
# docs/options.md lists them. -c and -k take the values that mean what corral does anyway
# (no checkpoints; output written straight to its final path) and refuse the others.
QSUB_REFUSED = frozenset("GRXu")
QSUB_NO_EFFECT = frozenset("cfkp")
QSUB_VALUES = {"c": ("n", "u"), "k": ("n", "d", "od", "ed", "oed")}
# -W attributes PBS has and corral does not do (the others PBS itself calls illegal).
W_REFUSED = ("group_list", "pwd", "run_count", "sandbox", "stagein", "stageout", "umask",
             "release_nodes_on_stageout", "tolerate_node_failures", "create_resv_from_job",
             "interactive")

QSUB_USAGE = """\
usage: qsub [-a date_time] [-A account_string] [-c interval]
\t[-C directive_prefix] [-e path] [-f ] [-h ] [-I [-X]] [-j oe|eo] [-J X-Y[:Z]]
\t[-k keep] [-l resource_list] [-m mail_options] [-M user_list]
\t[-N jobname] [-o path] [-p priority] [-P project] [-q queue] [-r y|n]
\t[-R o|e|oe] [-S path] [-u user_list] [-W otherattributes=value...]
\t[-v variable_list] [-V ] [-z] [script | -- command [arg1 ...]]
       qsub --version
"""

# Variables that describe one running job: a qsub run inside a job must not hand its own to
# the new job (the launcher sets the new job's).
_JOB_IDENTITY = ("PBS_JOBID", "PBS_JOBNAME", "PBS_ARRAY_INDEX", "PBS_ARRAY_ID", "PBS_NODEFILE",
                 "PBS_QUEUE", "PBS_ENVIRONMENT", "PBS_JOBDIR", "PBS_TASKNUM", "PBS_NODENUM",
                 "PBS_MOMPORT")
_ORIGIN = ("HOME", "LANG", "LOGNAME", "PATH", "MAIL", "SHELL", "TZ")
_MAIL_POINTS = {"a": "FAIL", "b": "BEGIN", "e": "END"}
_ARRAY = re.compile(r"([0-9]+)-([0-9]+)(?::([0-9]+))?(?:%([0-9]+))?")
_JOB_ID = re.compile(r"([0-9]+)(\[[0-9,\-:%]*\])?(?:\.[^\s@]+)?(?:@\S+)?")


class PbsError(Exception):
    """A refused request: each line is printed as `PROG: LINE`, then the usage text if asked."""

    def __init__(self, *lines: str, code: int = 1, usage: bool = False) -> None:
        super().__init__(lines[0] if lines else "usage")
        self.lines = lines
        self.code = code
        self.usage = usage


class OptionProblem(Exception):
    """An option qsub itself rejects; the caller words it for the command line or a directive."""


# -- option scanning ---------------------------------------------------------------------------

def getopt(prog: str, argv: Sequence[str], spec: str,
           permute: bool = False) -> tuple[list[tuple[str, str]], list[str], bool]:
    """getopt(3) (the PBS commands have no long options): ([(letter, value)], operands,
    whether `--` ended the options), errors worded as glibc's. qsub stops at its script;
    with `permute` options may follow operands, as glibc lets qstat and qdel read them."""
    found, operands, dashdash = scan(prog, argv, letters(spec), dialect=POSIX,
                                     stop_at_operand=not permute, error=OptionProblem)
    return [(letter, value or "") for letter, value in found], operands, dashdash


class Options:
    """One source of qsub options (the command line or the script's directives).

    A plain class: importing dataclasses costs every command start ~10 ms.
    """

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.resources: dict[str, str] = {}
        self.attributes: dict[str, str] = {}


def read_options(found: Sequence[tuple[str, str]]) -> Options:
    """Checks what qsub checks itself; later occurrences win, -l and -W accumulate."""
    opts = Options()
    for letter, value in found:
        if letter == "l":
            try:
                opts.resources.update(parse_resource_list(value))
            except ValueError:
                raise OptionProblem("qsub: illegal -l value") from None
        elif letter == "W":
            opts.attributes.update(_equal_list(value.strip()))
        elif letter == "r" and value not in ("y", "n"):
            raise OptionProblem("qsub: illegal -r value")
        elif letter in QSUB_REFUSED:
            raise OptionProblem(f"qsub: -{letter}: option not supported by corral")
        elif letter in QSUB_VALUES and _normal(letter, value) not in QSUB_VALUES[letter]:
            raise OptionProblem(f"qsub: -{letter} {value}: not supported by corral (it accepts "
                                f"{', '.join(QSUB_VALUES[letter])})")
        else:
            opts.values[letter] = value
    return opts


def _normal(letter: str, value: str) -> str:
    """-k's letters in any order (`eod` as `oed`); -c's value as given."""
    if letter == "k" and value != "n":
        return "".join(c for c in "oed" if c in value) if set(value) <= set("oed") else value
    return value


def _equal_list(text: str) -> dict[str, str]:
    """-W's `name=value[,name=value]`; a piece without `=` continues the previous value
    (`depend=afterok:1,afterany:2`)."""
    pairs: dict[str, str] = {}
    last = None
    for piece in text.split(","):
        name, eq, value = piece.partition("=")
        if eq and name.strip():
            last = name.strip()
            pairs[last] = value
        elif last is not None:
            pairs[last] += "," + piece
        else:
            raise OptionProblem("qsub: illegal -W value")
    if not pairs:
        raise OptionProblem("qsub: illegal -W value")
    return pairs


def parse_command_line(argv: Sequence[str]) -> tuple[Options, list[str], bool]:
    """(options, operands, `--` seen); PbsError with usage (exit 2) when qsub would refuse."""
    try:
        found, operands, dashdash = getopt("qsub", argv, QSUB_SPEC)
        opts = read_options(found)
    except OptionProblem as exc:
        raise PbsError(str(exc).removeprefix("qsub: "), code=2, usage=True) from None
    if (dashdash and not operands) or (not dashdash and len(operands) > 1):
        raise PbsError(code=2, usage=True)  # the script must be the last argument
    return opts, operands, dashdash


# -- directives --------------------------------------------------------------------------------

def directive_prefix(command_line: Options, environ: Mapping[str, str]) -> str:
    return command_line.values.get("C") or environ.get("PBS_DPREFIX") or "#PBS"


def directive_lines(script: str, prefix: str) -> list[str]:
    """The text after the prefix of each directive before the first command, as qsub reads
    them (a directive may continue on the next line after a trailing backslash)."""
    found: list[str] = []
    lines = script.splitlines()
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped and not stripped.startswith("#"):
            break
        if stripped.startswith(prefix) and stripped[len(prefix):len(prefix) + 1] in ("", " ", "\t"):
            text = stripped[len(prefix):]
            while text.endswith("\\") and i + 1 < len(lines):
                i += 1
                text = text[:-1] + lines[i].strip()
            found.append(text)
        i += 1
    return found


def parse_directives(script: str, prefix: str) -> Options:
    """Every directive's options; PbsError (exit 1) naming the directive qsub refused."""
    merged = Options()
    for text in directive_lines(script, prefix):
        try:
            # Trailing `# comment`s are dropped, as most sites' scripts rely on.
            args = shlex.split(re.split(r"\s#", text, maxsplit=1)[0])
            found, operands, _ = getopt("qsub", args, QSUB_SPEC)
            if operands:
                raise OptionProblem("")
            opts = read_options(found)
        except (OptionProblem, ValueError) as exc:
            lines = [str(exc).removeprefix("qsub: ")] if str(exc) else []
            raise PbsError(*lines, f"directive error: {text.strip()} ", code=1) from None
        merged.values.update(opts.values)
        merged.resources.update(opts.resources)
        merged.attributes.update(opts.attributes)
    return merged


def merge(directives: Options, command_line: Options) -> Options:
    """The command line wins over the script, resource by resource and attribute by attribute."""
    merged = Options()
    merged.values = {**directives.values, **command_line.values}
    merged.resources = {**directives.resources, **command_line.resources}
    merged.attributes = {**directives.attributes, **command_line.attributes}
    return merged


# -- job ids and dependencies ------------------------------------------------------------------

def parse_job_id(text: str) -> tuple[int, str | None] | None:
    """`1234`, `1234.server`, `1234[]`, `1234[7].server` → (1234, None | "" | "7"); None if the
    text is not a PBS job id. The server part is not checked: corral has one server."""
    match = _JOB_ID.fullmatch(text.strip())
    if match is None:
        return None
    index = match.group(2)
    return int(match.group(1)), None if index is None else index[1:-1]


def slurm_job_id(seq: int, index: str | None) -> str:
    """The controller's form: the whole job or array `12`, one task `12_7`, several `12_[1-3]`."""
    if not index:
        return str(seq)
    return f"{seq}_{index}" if index.isdigit() else f"{seq}_[{index}]"


def dependency(text: str) -> str:
    """`afterok:12.server:13[],afterany:14` → Slurm's `afterok:12:13,afterany:14`."""
    parts: list[tuple[str, list[str]]] = []
    for item in text.split(","):
        kind, *ids = item.strip().split(":")
        if kind in ("before", "beforeok", "beforenotok", "beforeany", "on"):
            raise OptionProblem(f"qsub: -W depend={kind}: not supported by corral")
        if kind not in DEPENDENCY_KINDS or not ids:
            raise OptionProblem("qsub: illegal -W value")
        converted = []
        for job in ids:
            parsed = parse_job_id(job)
            if parsed is None:
                raise OptionProblem("qsub: illegal -W value")
            converted.append(slurm_job_id(*parsed))
        parts.append((kind, converted))
    return slurm_dependency(parts)


def array_range(text: str) -> str:
    """-J `X-Y[:Z][%N]` → --array `X-Y[:Z][%N]`, checked as PBS does (X < Y)."""
    match = _ARRAY.fullmatch(text.strip())
    if match is None or int(match.group(1)) >= int(match.group(2)) \
            or (match.group(3) is not None and int(match.group(3)) < 1):
        raise OptionProblem("qsub: illegal -J value")
    return text.strip()


# -- environment -------------------------------------------------------------------------------

def variable_list(text: str, environ: Mapping[str, str]) -> dict[str, str]:
    """-v `A=1,B` (B from qsub's environment); quotes protect commas inside values."""
    names: dict[str, str] = {}
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace = ","
    lexer.whitespace_split = True
    for item in lexer:
        name, eq, value = item.partition("=")
        name = name.strip()
        if not name:
            raise PbsError("cannot send environment with the job")
        if name.startswith("PBS_O_"):
            continue  # qsub sets those itself
        if not eq:
            if name not in environ:
                raise PbsError("cannot send environment with the job")
            value = environ[name]
        names[name] = value
    return names


def job_environment(opts: Options, environ: Mapping[str, str], *, cwd: str, host: str,
                    system: str, queue: str | None) -> dict[str, str]:
    # PBS sends only the PBS_O_* variables and -v's unless -V, because its MOM then builds a
    # login environment on the node. corral's agent starts the job with exactly what it is
    # given (nothing on the node supplies PATH, HOME, ...), so the submitter's environment goes
    # along as with sbatch's default --export=ALL; -V therefore changes nothing.
    env = {k: v for k, v in environ.items()
           if not k.startswith("PBS_O_") and k not in _JOB_IDENTITY}
    if "v" in opts.values:
        env.update(variable_list(opts.values["v"], environ))
    for name in _ORIGIN:
        if name in environ:
            env[f"PBS_O_{name}"] = environ[name]
    env.update({"PBS_O_WORKDIR": cwd, "PBS_O_HOST": host, "PBS_O_SYSTEM": system})
    if queue:
        env["PBS_O_QUEUE"] = queue
    return env


# -- the request -------------------------------------------------------------------------------

def _escape(path: str) -> str:
    """corral expands %-patterns in output paths; PBS does not, except its ^array_index^."""
    return path.replace("%", "%%").replace("^array_index^", "%a")


def output_path(value: str | None, suffix: str, name: str, cwd: str, array: bool,
                is_dir: Callable[[str], bool]) -> str:
    """-o/-e `[host:]path` or PBS's default `NAME.oSEQ` (`NAME.oSEQ.INDEX` for a subjob) in
    the submit directory; a directory gets the default name inside it."""
    default = _escape(name) + (f".{suffix}%A.%a" if array else f".{suffix}%j")
    if value is None:
        return os.path.join(cwd, default)
    host, colon, rest = value.partition(":")
    path = rest if colon and "/" not in host else value
    full = os.path.normpath(os.path.join(cwd, os.path.expanduser(path)))
    if path.endswith("/") or is_dir(full):
        return os.path.join(_escape(full), default)
    return _escape(full)


def _join(values: Mapping[str, str], out: str, err: str) -> tuple[str, str | None]:
    """(stdout, stderr) after -j: `oe` sends both to the output file, `eo` to the error file."""
    join = values.get("j", "n")
    if join not in ("oe", "eo", "n"):
        raise PbsError("illegal -j value", code=2, usage=True)
    if join == "oe":
        return out, None
    if join == "eo":
        return err, None
    return out, err


def _begin_time(text: str, now: float) -> float:
    """-a `[[[[CC]YY]MM]DD]hhmm[.SS]`; a time already past today means tomorrow, as in PBS."""
    match = re.fullmatch(r"([0-9]{4,12})(?:\.([0-9]{2}))?", text.strip())
    if match is None or len(match.group(1)) % 2:
        raise PbsError("illegal -a value", code=2, usage=True)
    digits = match.group(1)
    head, hhmm = digits[:-4], digits[-4:]
    try:
        return next_local_time(
            now, int(hhmm[:2]), int(hhmm[2:]), int(match.group(2) or 0),
            day=int(head[-2:]) if len(head) >= 2 else None,
            month=int(head[-4:-2]) if len(head) >= 4 else None,
            year=int(head[:-4]) + (2000 if len(head) == 6 else 0) if len(head) >= 6 else None,
            roll=not head)
    except ValueError:
        raise PbsError("illegal -a value", code=2, usage=True) from None


def build_request(opts: Options, *, script: str, name: str, cwd: str,
                  environ: Mapping[str, str], host: str, system: str, queue: str | None,
                  now: float, is_dir: Callable[[str], bool] = os.path.isdir) -> dict[str, Any]:
    """The body of POST /api/v1/jobs for a PBS submission."""
    values = opts.values
    name = values.get("N", name)
    request: dict[str, Any] = {"name": name, "script": script, "argv": [], "work_dir": cwd,
                               "submit_host": host, "frontend": "pbs"}
    attributes = dict(opts.attributes)
    try:
        array = array_range(values["J"]) if "J" in values else None
        depend = attributes.pop("depend", None)
        if depend is not None:
            request["dependency"] = dependency(depend)
        throttle = attributes.pop("max_run_subjobs", None)
        if attributes.pop("block", "false").lower() not in ("true", "false"):
            raise OptionProblem("qsub: illegal -W value")
        refused = next((name for name in attributes if name in W_REFUSED), None)
        if refused is not None:
            raise OptionProblem(f"qsub: -W {refused}: not supported by corral")
        if attributes:
            raise OptionProblem("qsub: illegal -W value")
    except OptionProblem as exc:
        raise PbsError(str(exc).removeprefix("qsub: "), code=2, usage=True) from None
    if array is not None:
        if throttle is not None:
            if not throttle.isdigit():
                raise PbsError("illegal -W value", code=2, usage=True)
            array = array.split("%")[0] + f"%{throttle}"
        request["array"] = array
    out = output_path(values.get("o"), "o", name, cwd, array is not None, is_dir)
    err = output_path(values.get("e"), "e", name, cwd, array is not None, is_dir)
    request["stdout"], stderr = _join(values, out, err)
    if stderr is not None:
        request["stderr"] = stderr
    try:
        apply_resources(opts.resources, request)
    except ValueError as exc:
        message = str(exc)
        code = EXIT_BADATVAL if message.startswith(RESOURCE_ERROR) else 2
        if message.startswith("Unknown resource"):
            code = 15035 & 0xFF
        raise PbsError(message, code=code) from None
    if values.get("q"):
        partition = values["q"].split("@")[0]
        if partition:
            request["partition"] = partition
    if values.get("A"):
        request["account"] = values["A"]
    if values.get("P"):
        # PBS's project is a label the site accounts by, as Slurm's WCKey is (Slurm's own
        # qsub wrapper maps -P the same way); qstat -f shows it as `project`.
        request["wckey"] = values["P"]
    request["hold"] = "h" in values
    if values.get("r") == "n":
        if array is not None:
            raise PbsError(" cannot submit non-rerunable Array Job", code=2, usage=True)
        request["requeue"] = False
    if "a" in values:
        request["begin_time"] = _begin_time(values["a"], now)
    if "p" in values:
        # Checked as PBS checks it; corral computes priorities itself, so it changes nothing.
        text = values["p"].strip()
        if not text.lstrip("+-").isdigit() or not -1024 <= int(text) <= 1023:
            raise PbsError("illegal -p value", code=2, usage=True)
    if "m" in values:
        points = values["m"]
        if points != "n" and (not points or set(points) - set(_MAIL_POINTS)):
            raise PbsError("illegal -m value", code=2, usage=True)
        request["mail_type"] = "NONE" if points == "n" else ",".join(
            _MAIL_POINTS[p] for p in "bea" if p in points)
    if values.get("M"):
        request["mail_user"] = values["M"]
    request["environment"] = job_environment(opts, environ, cwd=cwd, host=host, system=system,
                                             queue=queue or request.get("partition"))
    return request


def with_interpreter(script: str, shell: str | None, login_shell: str) -> str:
    """corral executes the script file itself, so it needs a `#!` line: PBS runs a script
    with -S's shell if given, else with the user's login shell, whatever its first line."""
    if shell:
        body = script.split("\n", 1)[1] if script.startswith("#!") else script
        return f"#!{shell}\n{body}"
    if script.startswith("#!"):
        return script
    return f"#!{login_shell}\n{script}"


def command_script(argv: Sequence[str]) -> str:
    """`qsub -- command args`: the job runs the command itself."""
    return "#!/bin/sh\nexec " + " ".join(shlex.quote(a) for a in argv) + "\n"


def pbs_wording(prog: str, exc: Exception) -> tuple[str, int] | None:
    """PBS's wording for an unreachable or refusing server."""
    if isinstance(exc, ControllerUnreachable):
        return (f"{prog}: cannot connect to server {exc.address} "
                f"({str(exc).rsplit(': ', 1)[-1]})", 1)
    if isinstance(exc, ClientError):
        return f"{prog}: {exc.message}", 1
    return None


def run_pbs_command(prog: str, body: Callable[[Client, list[str]], int],
                    argv: Sequence[str] | None = None) -> int:
    """run_command for the PBS front-ends, in PBS's words."""
    return run_command(prog, body, argv, pbs_wording)
