"""LSF's command language (bsub options, #BSUB, -R, -J arrays, -w) and bjobs' layouts."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from corral.cli.common.translate import expand_indices
from corral.cli.lsf.bjobs import (
    HEADER,
    Row,
    Wrapper,
    default_line,
    long_format,
    parse_job_arg,
    parse_request,
    pending_line,
    rows_of,
    select,
    status,
    trunc,
    wanted_states,
)
from corral.cli.lsf.bkill import parse_signal
from corral.cli.lsf.options import (
    BSUB_OPTIONS,
    BSUB_UNSUPPORTED,
    INDEX_LIMIT,
    LsfError,
    Options,
    build_request,
    check_supported,
    command_line,
    directives,
    lsf_dependency,
    output_pattern,
    parse_args,
    parse_dependency,
    parse_job_name,
    parse_resreq,
    parse_run_limit,
    select_constraint,
    slurm_job_id,
)

ALL = {**BSUB_OPTIONS, **BSUB_UNSUPPORTED}
SCRIPT = """#!/bin/bash
#BSUB -J fromscript
#BSUB -n 4 -W 1:30   # a comment
#BSUB -R "rusage[mem=512] span[hosts=1]"
#BSUB -o out.%J
echo hi
#BSUB -q never
"""


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def request(argv: list[str], script: str = "", **names: list[str]) -> dict[str, Any]:
    found, operands = parse_args("bsub", argv, ALL)
    script_found, _ = parse_args("bsub", directives(script), ALL, stop_at_operand=False)
    command = command_line(operands) if operands else "script"
    return build_request(Options(found, script_found), script=script or f"{command}\n",
                         command=command, cwd="/home/u", environ={"HOME": "/home/u", "X": "1"},
                         hostname="login", now=1_700_000_000.0,
                         resolve_name=lambda name: names.get(name, []))


# --------------------------------------------------------------------------- bsub's parsing

def test_options_are_lsf_words_and_stop_at_the_command() -> None:
    found, command = parse_args("bsub", ["-n4", "-gpu", "num=2", "-oo", "o.txt", "-H",
                                         "ls", "-l", "-n", "3"], ALL)
    assert found == [("n", "4"), ("gpu", "num=2"), ("oo", "o.txt"), ("H", None)]
    assert command == ["ls", "-l", "-n", "3"]


@pytest.mark.parametrize("argv,found", [
    (["-n4"], [("n", "4")]), (["-W10"], [("W", "10")]), (["-W1:30"], [("W", "1:30")]),
    (["-Jname"], [("J", "name")]), (["-eerr"], [("e", "err")]),
    (["-ooutput"], [("oo", "utput")]), (["-oout.%J"], [("oo", "ut.%J")]),
    (["-oxout"], [("o", "xout")]), (["-eoerr"], [("eo", "err")]),
    (["-Jdoe"], [("Jd", "oe")]), (["-cwd/tmp"], [("cwd", "/tmp")]),
    (["-oo", "output"], [("oo", "output")]), (["-eo", "err"], [("eo", "err")]),
    (["-Jd", "text"], [("Jd", "text")]), (["-o", "x", "-e", "y"], [("o", "x"), ("e", "y")]),
])
def test_attached_values_read_as_lsf_reads_them(argv: list[str],
                                                found: list[tuple[str, str]]) -> None:
    # LSF's my_getopt: the word is an option's name, or begins with one that takes a value,
    # the longer names tried first (its template lists Jd: before J:, is: before i:, cwd:
    # before c:, so -oo must come before -o). So -n4 is -n 4 and -eerr is -e err, but
    # -ooutput is -oo utput on LSF, and so here: only -o with another first letter attaches.
    assert parse_args("bsub", [*argv, "ls"], ALL) == (found, ["ls"])


@pytest.mark.parametrize("argv,message", [
    (["-zz", "ls"], "bsub: illegal option -- zz"),
    (["-Hx", "ls"], "bsub: option cannot have an argument -- H"),
    (["-q"], "bsub: option requires an argument -- q"),
])
def test_getopt_errors_read_as_lsf_prints_them(argv: list[str], message: str) -> None:
    with pytest.raises(LsfError, match=message):
        parse_args("bsub", argv, ALL)


def test_directives_stop_at_the_first_command_and_keep_quotes() -> None:
    assert directives(SCRIPT) == ["-J", "fromscript", "-n", "4", "-W", "1:30", "-R",
                                  "rusage[mem=512] span[hosts=1]", "-o", "out.%J"]


def test_script_directives_map_onto_the_request() -> None:
    req = request([], SCRIPT)
    assert (req["name"], req["num_tasks"], req["num_nodes"], req["mem_per_cpu"],
            req["time_limit"], req["stdout"], req["open_mode"]) == (
        "fromscript", 4, 1, 512, 90, "out.%A", "append")
    assert req["frontend"] == "lsf" and req["script"] == SCRIPT
    assert "partition" not in req


def test_the_command_line_overrides_script_directives() -> None:
    req = request(["-J", "cli", "-n", "2"], SCRIPT)
    assert (req["name"], req["num_tasks"], req["time_limit"]) == ("cli", 2, 90)


def test_a_command_line_job_runs_under_sh_and_is_named_after_its_command() -> None:
    req = request(["-q", "gpu", "echo", "a b", "$HOME"])
    assert req["command"] == 'echo "a b" $HOME' and req["name"] == 'echo "a b" $HOME'
    assert req["script"] == '#!/bin/sh\necho "a b" $HOME\n'
    assert req["partition"] == "gpu" and req["work_dir"] == "/home/u"
    assert req["environment"] == {"HOME": "/home/u", "X": "1"}


@pytest.mark.parametrize("argv,expected", [
    (["-n", "8", "-R", "span[ptile=4]"], {"num_tasks": 8, "num_nodes": 2, "ntasks_per_node": 4}),
    (["-R", "rusage[mem=2GB]"], {"mem_per_cpu": 2048}),
    (["-R", "select[avx2]", "-R", "rusage[mem=100:duration=10]"],
     {"mem_per_cpu": 100, "constraint": "avx2"}),
    (["-P", "physics"], {"account": "physics"}),
    (["-gpu", "num=2:mode=exclusive_process:gmodel=h100"], {"gpus_per_node": 2, "gpu_type": "h100"}),
    (["-gpu", "-"], {"gpus_per_node": 1}),
    (["-R", "rusage[ngpus_physical=3]"], {"gpus_per_node": 3}),
    (["-x", "-H", "-rn"], {"exclusive": True, "hold": True, "requeue": False}),
    (["-oo", "o.txt", "-e", "e.%J.%I"], {"stdout": "o.txt", "stderr": "e.%A.%a",
                                         "open_mode": "truncate"}),
    (["-cwd", "sub", "-i", "in.txt"], {"work_dir": "/home/u/sub", "stdin": "in.txt"}),
    (["-env", "none, Y=2"], {"environment": {"Y": "2"}}),
    (["-B", "-N", "-u", "me@x", "-Jd", "about"], {"mail_type": "BEGIN,END",
                                                  "mail_user": "me@x", "comment": "about"}),
    (["-M", "1G"], {"mem_per_node": 1024}),
])
def test_options_map_to_the_request(argv: list[str], expected: dict[str, Any]) -> None:
    req = request([*argv, "true"])
    assert {k: req[k] for k in expected} == expected


def test_begin_times_are_the_next_such_local_time(utc: None) -> None:
    # now = Tue Nov 14 22:13:20 2023 UTC
    assert request(["-b", "23:00", "true"])["begin_time"] == 1_700_002_800
    assert request(["-b", "10:00", "true"])["begin_time"] == 1_700_042_400
    assert request(["-b", "2024:1:2:3:04", "true"])["begin_time"] == 1_704_164_640
    with pytest.raises(LsfError, match="^25:00: Bad time specification$"):
        request(["-b", "25:00", "true"])


def test_output_patterns_keep_other_percent_signs_literal() -> None:
    assert output_pattern("log/%J_%I.%x", "/nonexistent", "out") == "log/%A_%a.%%x"
    assert output_pattern("logs/", "/nonexistent", "out") == "logs/%A.out"


@pytest.mark.parametrize("text,expected", [
    ("plain", ("plain", None)),
    ("arr[1-10]", ("arr", "1-10")),
    ("arr[1-10]%2", ("arr", "1-10%2")),
    ("a[1-9:2,20,30-31]", ("a", "1-9:2,20,30-31")),
    ("[1-3]", ("", "1-3")),
])
def test_job_arrays_become_slurm_array_specs(text: str, expected: tuple[str, str | None]) -> None:
    assert parse_job_name(text) == expected


@pytest.mark.parametrize("text,message", [
    ("a[1-", "Bad job name"), ("a[x]", "Bad job name"), ("a[1-3]%0", "Bad job name"),
    ("a[0-3]", "Job array index error"), ("a[5-3]", "Job array index error"),
    ("a[1-1001]", "Job array index too large"),
])
def test_bad_job_arrays_are_refused(text: str, message: str) -> None:
    with pytest.raises(LsfError) as err:
        request(["-J", text, "true"])
    assert err.value.message == message


@pytest.mark.parametrize("text,minutes", [("45", 45), ("1:30", 90), ("10/hostA", 10)])
def test_run_limits(text: str, minutes: int) -> None:
    assert parse_run_limit(text) == minutes


@pytest.mark.parametrize("text", ["1:x", "abc", "1:2:3", "-5"])
def test_bad_run_limits_use_lsf_wording(text: str) -> None:
    with pytest.raises(LsfError, match=f"^{text}: Bad RUNLIMIT specification$"):
        parse_run_limit(text)


@pytest.mark.parametrize("text", [
    "rusage[mem=abc]", "rusage[mem=100", "rusage[mem=]", "bogus[x]", "span[hosts=x]",
    "rusage[mem=1] rusage[mem=2]", "span[hosts=1:ptile=2]", "span[foo=1]",
])
def test_unparsable_resource_requirements_are_refused(text: str) -> None:
    with pytest.raises(LsfError, match="^Bad resource requirement syntax$"):
        parse_resreq([text])


def test_a_bare_resource_string_is_a_selection_of_node_features() -> None:
    res = parse_resreq(["avx2 && (ib || eth)"])
    assert (res.mem_mb, res.hosts, res.ptile, res.gpus) == (None, None, None, None)
    assert res.constraint == "avx2&(ib|eth)"


@pytest.mark.parametrize("text,constraint", [
    ("gpu", "gpu"), ("type==any", None), ("type==local && avx", "avx"),
    ("a || type==any", None), ("(a || b) && c", "(a|b)&c"),
])
def test_select_maps_to_a_constraint(text: str, constraint: str | None) -> None:
    assert select_constraint(text) == constraint


@pytest.mark.parametrize("text,message", [
    ("mem>100 && ncpus>2", "select[mem>100 && ncpus>2]: mem>100: corral selects hosts by "
                           "resource names (node features) only"),
    ("!gpu", "select[!gpu]: negation is not supported by corral"),
    ("(a", "Bad resource requirement syntax"),
    ("a && && b", "Bad resource requirement syntax"),
])
def test_select_refuses_what_no_node_feature_can_honour(text: str, message: str) -> None:
    with pytest.raises(LsfError) as caught:
        select_constraint(text)
    assert caught.value.message == message


@pytest.mark.parametrize("argv,message", [
    (["-n", "x"], "Bad argument for option -n"),
    (["-n", "0"], "The number of processors must be a positive integer"),
    (["-n", "4", "-R", "span[hosts=8]"], "Bad resource requirement syntax"),
    (["-E", "pre"], "-E: option not supported by corral"),
])
def test_other_refusals(argv: list[str], message: str) -> None:
    found, _ = parse_args("bsub", [*argv, "true"], ALL)
    with pytest.raises(LsfError) as err:
        check_supported(found)
        request([*argv, "true"])
    assert err.value.message == message


def test_dependency_expressions_become_slurm_dependencies() -> None:
    resolve = {"prep": ["40", "41"]}.get
    text = "done(12) && ended(13[2]) && exit(14) && started(15) && done(\"prep\") && 16"
    assert parse_dependency(text, lambda n: resolve(n) or []) == (
        "afterok:12,afterany:13_2,afternotok:14,after:15,afterok:40:41,afterok:16")
    assert parse_dependency("done(1) || exit(2)", lambda n: []) == "afterok:1?afternotok:2"


@pytest.mark.parametrize("text,message", [
    ("dne(3)", "Dependency condition syntax error"),
    ("done(3", "Dependency condition syntax error"),
    ("done(nosuch)", "nosuch: No matching job found"),
])
def test_bad_dependencies_are_refused(text: str, message: str) -> None:
    with pytest.raises(LsfError) as err:
        parse_dependency(text, lambda n: [])
    assert err.value.message == message


def test_slurm_dependencies_read_back_in_lsf_words() -> None:
    assert lsf_dependency("afterok:12(failed),afterany:13_2") == "done(12) && ended(13[2])"
    assert lsf_dependency("afterok:1?after:2") == "done(1) || started(2)"


def test_job_ids() -> None:
    assert slurm_job_id("123") == "123" and slurm_job_id("123[4]") == "123_4"
    assert parse_job_arg("7[1-3,9]") == (7, [1, 2, 3, 9])
    with pytest.raises(LsfError, match="x7: Illegal job ID."):
        parse_job_arg("x7")
    assert expand_indices("1-7:3,10%2") == [1, 4, 7, 10]
    assert expand_indices("1-200000", INDEX_LIMIT) == list(range(1, INDEX_LIMIT + 1))


def test_signals() -> None:
    assert (parse_signal("KILL"), parse_signal("sigterm"), parse_signal("10")) == (9, 15, 10)
    with pytest.raises(LsfError, match="FOO: Illegal signal value"):
        parse_signal("FOO")


# --------------------------------------------------------------------------- bjobs

JOB: dict[str, Any] = {
    "job_id": 473713, "name": "TM-T", "user": "gloessa", "partition": "pub.1h",
    "state": "RUNNING", "held": False, "reason": "None", "submit_host": "brutus2",
    "submit_time": 1_666_199_400.0, "start_time": 1_666_199_462.0, "end_time": None,
    "nodes": ["a6128"], "num_tasks": 1, "work_dir": "/nonexistent/w", "command": "sleep 300",
    "stdout": "/nonexistent/w/lsf.out", "stderr": "/nonexistent/w/lsf.out",
    "stdin": "/dev/null", "time_limit": 10, "exit_code": 0, "exit_signal": 0,
}


@pytest.mark.parametrize("fields,stat", [
    ({"state": "PENDING"}, "PEND"), ({"state": "PENDING", "held": True}, "PSUSP"),
    ({"state": "RUNNING"}, "RUN"), ({"state": "COMPLETING"}, "RUN"),
    ({"state": "COMPLETED"}, "DONE"), ({"state": "FAILED"}, "EXIT"),
    ({"state": "CANCELLED"}, "EXIT"), ({"state": "TIMEOUT"}, "EXIT"),
])
def test_states_in_lsf_words(fields: dict[str, Any], stat: str) -> None:
    assert status({**JOB, **fields}) == stat


def test_the_default_table_has_lsf_columns(utc: None) -> None:
    line = default_line(Row({**JOB, "state": "FAILED"}, 473713, None))
    assert HEADER == "JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME"
    assert line == "473713  gloessa EXIT  pub.1h     brutus2     a6128       TM-T       Oct 19 17:10"


def test_long_names_keep_their_tail_and_parallel_jobs_list_their_hosts(utc: None) -> None:
    job = {**JOB, "name": "a_rather_long_name", "user": "averylonguser", "nodes": ["n1", "n2"],
           "num_tasks": 5}
    assert trunc("a_rather_long_name", 10) == "*long_name"
    assert default_line(Row(job, 9, None)) == (
        "9       averylo RUN   pub.1h     brutus2     3*n1        *long_name Oct 19 17:10\n"
        + " " * 45 + "2*n2")
    assert default_line(Row(job, 9, None), wide=True).split() == [
        "9", "averylonguser", "RUN", "pub.1h", "brutus2", "3*n1:2*n2", "a_rather_long_name",
        "Oct", "19", "17:10"]


def test_array_records_become_one_row_per_element() -> None:
    folded = {**JOB, "job_id": 50, "name": "arr", "state": "PENDING", "array_job_id": 50,
              "array_task_id": None, "array_task_string": "2-4%2"}
    task = {**JOB, "job_id": 51, "name": "arr", "array_job_id": 50, "array_task_id": 1}
    rows = [r for job in (folded, task) for r in rows_of(job)]
    assert [(r.job_id, r.index, r.name, r.stat) for r in rows] == [
        (50, 2, "arr[2]", "PEND"), (50, 3, "arr[3]", "PEND"), (50, 4, "arr[4]", "PEND"),
        (50, 1, "arr[1]", "RUN")]
    req = parse_request(["50[1,3]"])
    chosen = select([folded, task], req, wanted_states(req.flags, True))
    assert [r.id_text for r in chosen] == ["50[1]", "50[3]"]


def test_selection_orders_running_then_pending_then_finished() -> None:
    jobs = [{**JOB, "job_id": 1, "state": "COMPLETED"}, {**JOB, "job_id": 2, "state": "PENDING"},
            {**JOB, "job_id": 3, "state": "RUNNING"}]
    req = parse_request(["-a"])
    assert [r.job_id for r in select(jobs, req, wanted_states(req.flags, False))] == [3, 2, 1]
    req = parse_request([])
    assert [r.job_id for r in select(jobs, req, wanted_states(req.flags, False))] == [3, 2]
    req = parse_request(["-dp"])
    assert [r.job_id for r in select(jobs, req, wanted_states(req.flags, False))] == [2, 1]


def test_pending_listing_shows_reasons(utc: None) -> None:
    job = {**JOB, "state": "PENDING", "held": True, "reason": "JobHeldUser"}
    assert pending_line(Row(job, 7, None)) == (
        "7       gloessa PSUSP pub.1h      brutus2        TM-T               Oct 19 17:10\n"
        " The job was suspended by the user while pending;")


def test_long_lines_wrap_as_lsf_prtline_does() -> None:
    out = Wrapper()
    for piece in ("\nJob <644>,", " User <tom>,", " Project <default>,",
                  " Status <RUN>, Queue <normal>,", " Command <sleep 1000>\n",
                  "Wed Dec 28 16:04:00: Submitted from host <lsfrhel01 >",
                  ", CWD <$HOME/workplace/test>;\n"):
        out.put(piece)
    assert out.text() == (
        "\nJob <644>, User <tom>, Project <default>, Status <RUN>, Queue <normal>, Command\n"
        "                     <sleep 1000>\n"
        "Wed Dec 28 16:04:00: Submitted from host <lsfrhel01 >, CWD <$HOME/workplace/tes\n"
        "                     t>;\n")


def test_long_format_of_a_finished_job(utc: None) -> None:
    job = {**JOB, "state": "TIMEOUT", "end_time": 1_666_200_062.0, "exclusive": True,
           "dependency": "afterok:12(failed)", "batch_step": {"total_cpu_s": 0.12}}
    assert long_format([Row(job, 473713, None)], now=0.0) == (
        "\n"
        "Job <473713>, Job Name <TM-T>, User <gloessa>, Project <default>, Status <EXIT>\n"
        "                     , Queue <pub.1h>, Command <sleep 300>\n"
        "Wed Oct 19 17:10:00: Submitted from host <brutus2>, CWD </nonexistent/w>, Outpu\n"
        "                     t File </nonexistent/w/lsf.out>, Exclusive Execution, Depe\n"
        "                     ndency Condition <done(12)>;\n"
        "\n"
        " RUNLIMIT                \n"
        " 10.0 min\n"
        "Wed Oct 19 17:11:02: Started 1 Task(s) on Host(s) <a6128>, Allocated 1 Slot(s) \n"
        "                     on Host(s) <a6128>, Execution CWD </nonexistent/w>;\n"
        "Wed Oct 19 17:21:02: Completed <exit>; TERM_RUNLIMIT: job killed after reaching\n"
        "                     LSF run time limit. The CPU time used is 0.1 seconds.\n"
        "\n"
        " SCHEDULING PARAMETERS:\n"
        "           r15s   r1m  r15m   ut      pg    io   ls    it    tmp    swp    mem\n"
        " loadSched   -     -     -     -       -     -    -     -     -      -      -  \n"
        " loadStop    -     -     -     -       -     -    -     -     -      -      -  \n"
        "\n")


def test_long_format_separates_jobs_and_gives_pending_reasons(utc: None) -> None:
    pending = {**JOB, "state": "PENDING", "reason": "Dependency", "time_limit": None}
    text = long_format([Row(pending, 1, None), Row(pending, 2, None)], now=0.0)
    assert text.count("-" * 78 + "\n\nJob <2>") == 1
    assert " PENDING REASONS:\n Job dependency condition not satisfied;\n" in text
    assert "Started" not in text


@pytest.mark.parametrize("argv", [["-l", "-w"], ["-u"], ["-x"]])
def test_bjobs_refuses_bad_options(argv: list[str]) -> None:
    with pytest.raises(LsfError):
        parse_request(argv)


@pytest.mark.parametrize("command", ["bsub", "bjobs", "bkill"])
def test_lsf_commands_import_no_server_stack(command: str) -> None:
    heavy = ["fastapi", "sqlalchemy", "pydantic", "httpx", "corral.controller", "corral.store",
             "dataclasses", "datetime"]
    code = (f"import sys, corral.cli.lsf.{command}; "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "", f"{command} imports {loaded}"
