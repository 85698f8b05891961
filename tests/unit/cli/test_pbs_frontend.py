"""qsub's options, directives and resource lists; qstat's layouts; PBS job ids (no controller)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from corral.cli.pbs import qstat_format as fmt
from corral.cli.pbs.options import (
    OptionProblem,
    Options,
    PbsError,
    build_request,
    command_script,
    directive_lines,
    getopt,
    merge,
    parse_command_line,
    parse_directives,
    parse_job_id,
    read_options,
    slurm_job_id,
    with_interpreter,
)

SCRIPT = """#!/bin/bash
#PBS -N fromfile
#PBS -l select=2:ncpus=4:mem=2gb
#PBS -l walltime=01:30:00   # ninety minutes
  # an indented comment is not a command
#PBS -q gpu
echo hi
#PBS -N ignored
"""
NOW = time.mktime((2024, 5, 6, 12, 0, 0, 0, 0, -1))


def request(argv: list[str], script: str = "#!/bin/sh\necho\n", **environ: str) -> dict[str, Any]:
    command_line, _, _ = parse_command_line(argv)
    opts = merge(parse_directives(script, "#PBS"), command_line)
    return build_request(opts, script=script, name="job.sh", cwd="/home/u", environ=environ,
                         host="login1", system="Linux", queue="main", now=NOW,
                         is_dir=lambda path: path == "/home/u/logs")


def refusal(argv: list[str], script: str = "#!/bin/sh\n") -> PbsError:
    with pytest.raises(PbsError) as caught:
        request(argv, script)
    return caught.value


# -- options and directives ------------------------------------------------------------------

def test_qsub_stops_at_the_script_and_takes_attached_values() -> None:
    found, rest, dashdash = getopt("qsub", ["-hlwalltime=10", "-N", "x", "job.sh", "-q", "a"],
                                   "hl:N:q:")
    assert found == [("h", ""), ("l", "walltime=10"), ("N", "x")]
    assert (rest, dashdash) == (["job.sh", "-q", "a"], False)


def test_options_after_operands_are_read_when_permuting() -> None:
    found, rest, _ = getopt("qstat", ["12", "-f", "13"], "f", permute=True)
    assert (found, rest) == ([("f", "")], ["12", "13"])


@pytest.mark.parametrize("argv,message", [
    (["-Y"], "qsub: invalid option -- 'Y'"),
    (["-l"], "qsub: option requires an argument -- 'l'"),
    (["--long"], "qsub: invalid option -- '-'"),
])
def test_getopt_errors_are_worded_as_glibc(argv: list[str], message: str) -> None:
    with pytest.raises(OptionProblem, match=message):
        getopt("qsub", argv, "l:")


def test_command_line_errors_print_usage_and_exit_2() -> None:
    error = refusal(["-l", "walltime"])
    assert (error.lines, error.code, error.usage) == (("illegal -l value",), 2, True)
    assert refusal(["a.sh", "b.sh"]).code == 2


def test_directives_stop_at_the_first_command() -> None:
    assert directive_lines(SCRIPT, "#PBS") == [
        " -N fromfile", " -l select=2:ncpus=4:mem=2gb", " -l walltime=01:30:00   # ninety minutes",
        " -q gpu"]
    assert directive_lines("#!/bin/sh\n#QSUB -N a\n#PBS -N b\n", "#QSUB") == [" -N a"]


def test_a_directive_may_continue_on_the_next_line() -> None:
    assert directive_lines("#!/bin/sh\n#PBS -l select=1:\\\n#PBS ncpus=2\n", "#PBS") == [
        " -l select=1:#PBS ncpus=2"]


def test_a_bad_directive_names_itself_and_exits_1() -> None:
    with pytest.raises(PbsError) as caught:
        parse_directives("#!/bin/sh\n#PBS -l walltime\necho\n", "#PBS")
    assert caught.value.lines == ("illegal -l value", "directive error: -l walltime ")
    assert (caught.value.code, caught.value.usage) == (1, False)


def test_command_line_wins_over_directives_resource_by_resource() -> None:
    req = request(["-l", "walltime=00:10:00", "-N", "cli"], SCRIPT)
    assert (req["name"], req["time_limit"], req["num_nodes"], req["partition"]) == \
        ("cli", 10, 2, "gpu")


def test_merge_keeps_both_sources_attributes() -> None:
    script, command_line = Options(), read_options([("W", "depend=afterok:1"), ("N", "a")])
    script.attributes["block"] = "true"
    merged = merge(script, command_line)
    assert merged.attributes == {"block": "true", "depend": "afterok:1"}


# -- resources -------------------------------------------------------------------------------

@pytest.mark.parametrize("resources,expected", [
    ("select=2:ncpus=4:mem=2gb:ngpus=1", {"num_nodes": 2, "num_tasks": 2, "ntasks_per_node": 1,
                                          "cpus_per_task": 4, "mem_per_node": 2048,
                                          "gpus_per_node": 1}),
    ("select=1:ncpus=4:mpiprocs=4", {"num_nodes": 1, "num_tasks": 4, "cpus_per_task": 1}),
    ("select=2:ncpus=1,place=pack", {"num_nodes": 1, "num_tasks": 2, "cpus_per_task": 1}),
    ("select=1:ncpus=2,place=scatter:excl", {"exclusive": True, "cpus_per_task": 2}),
    ("select=1:host=node2", {"req_nodes": ["node2"]}),
    ("nodes=2:ppn=4", {"num_nodes": 2, "num_tasks": 8, "ntasks_per_node": 4}),
    ("nodes=1:ppn=2:gpus=1:bigmem", {"num_tasks": 2, "gpus_per_node": 1, "constraint": "bigmem"}),
    ("nodes=2:ppn=2,mem=4gb", {"num_nodes": 2, "mem_per_node": 2048}),
    ("ncpus=4,mem=1gb", {"num_nodes": 1, "cpus_per_task": 4, "mem_per_node": 1024}),
    ("mem=1536MB", {"mem_per_node": 1536}),
    ("mem=1024kw", {"mem_per_node": 8}),
    ("walltime=01:30:00", {"time_limit": 90}),
    ("walltime=10:30", {"time_limit": 11}),
    ("walltime=90", {"time_limit": 2}),
    ("walltime=0", {"time_limit": 1}),
    ("cput=1:00:00", {}),
])
def test_resources_map_to_the_request(resources: str, expected: dict[str, Any]) -> None:
    req = request(["-l", resources])
    assert {k: req.get(k) for k in expected} == expected


@pytest.mark.parametrize("resources,message,code", [
    ("walltime=abc", "Illegal attribute or resource value Resource_List.walltime", 166),
    ("mem=lots", "Illegal attribute or resource value Resource_List.mem", 166),
    ("select=1:ncpus=two", "Illegal attribute or resource value Resource_List.select", 166),
    ("select=0:ncpus=1", "Illegal attribute or resource value Resource_List.select", 166),
    ("select=1:ncpus=1,place=spread", "Illegal attribute or resource value Resource_List.place",
     166),
    ("nodes=2:ppn=x", "Illegal attribute or resource value Resource_List.nodes", 166),
    ("foo=1", "Unknown resource Resource_List.foo", 187),
    ("select=1:color=red", "Unknown resource Resource_List.color", 187),
    ("select=1:ncpus=1,ngpus=1",
     '"-lresource=" cannot be used with "select" or "place", resource is: ngpus', 2),
])
def test_bad_resources_are_refused_in_pbs_wording(resources: str, message: str, code: int) -> None:
    error = refusal(["-l", resources])
    assert (error.lines, error.code) == ((message,), code)


def test_a_bad_value_in_a_directive_is_the_servers_refusal() -> None:
    error = refusal([], "#!/bin/sh\n#PBS -l walltime=1:xx\n")
    assert (error.lines, error.code) == (
        ("Illegal attribute or resource value Resource_List.walltime",), 166)


# -- the rest of the request -----------------------------------------------------------------

def test_output_files_default_to_pbs_names_in_the_submit_directory() -> None:
    req = request(["-N", "run%1"])
    assert (req["stdout"], req["stderr"]) == ("/home/u/run%%1.o%j", "/home/u/run%%1.e%j")
    assert (req["work_dir"], req["frontend"], req["submit_host"]) == ("/home/u", "pbs", "login1")


def test_array_output_files_carry_the_index() -> None:
    req = request(["-J", "1-10:2%3", "-o", "out.^array_index^"])
    assert req["array"] == "1-10:2%3"
    assert (req["stdout"], req["stderr"]) == ("/home/u/out.%a", "/home/u/job.sh.e%A.%a")


@pytest.mark.parametrize("argv,stdout,stderr", [
    (["-j", "oe"], "/home/u/job.sh.o%j", None),
    (["-j", "eo", "-e", "err.txt"], "/home/u/err.txt", None),
    (["-o", "login1:/tmp/out", "-e", "logs"], "/tmp/out", "/home/u/logs/job.sh.e%j"),
    (["-o", "sub/"], "/home/u/sub/job.sh.o%j", "/home/u/job.sh.e%j"),
])
def test_output_options(argv: list[str], stdout: str, stderr: str | None) -> None:
    req = request(argv)
    assert (req["stdout"], req.get("stderr")) == (stdout, stderr)


@pytest.mark.parametrize("argv,message", [
    (["-J", "5-1"], "illegal -J value"),
    (["-J", "1-5", "-r", "n"], " cannot submit non-rerunable Array Job"),
    (["-j", "x"], "illegal -j value"),
    (["-W", "depend=afterok"], "illegal -W value"),
    (["-W", "nosuchattribute=1"], "illegal -W value"),
    (["-m", "xyz"], "illegal -m value"),
    (["-a", "25:00"], "illegal -a value"),
])
def test_bad_attribute_values_print_usage(argv: list[str], message: str) -> None:
    error = refusal(argv)
    assert (error.lines, error.code, error.usage) == ((message,), 2, True)


def test_dependencies_drop_the_server_and_keep_array_forms() -> None:
    req = request(["-W", "depend=afterok:12.srv:13[]:14[2].srv,afterany:15"])
    assert req["dependency"] == "afterok:12:13:14_2,afterany:15"


def test_max_run_subjobs_throttles_the_array() -> None:
    assert request(["-J", "1-8", "-W", "max_run_subjobs=2"])["array"] == "1-8%2"


def test_environment_carries_pbs_origin_variables_and_v_list() -> None:
    req = request(["-v", "A=1,B,C='x,y'"], B="from-env", HOME="/home/u", PATH="/bin",
                  PBS_JOBID="7.old", PBS_O_HOST="elsewhere")
    env = req["environment"]
    assert (env["A"], env["B"], env["C"]) == ("1", "from-env", "x,y")
    assert (env["PBS_O_HOME"], env["PBS_O_PATH"], env["PBS_O_WORKDIR"], env["PBS_O_HOST"],
            env["PBS_O_SYSTEM"], env["PBS_O_QUEUE"], env["PATH"]) == \
        ("/home/u", "/bin", "/home/u", "login1", "Linux", "main", "/bin")
    assert "PBS_JOBID" not in env


def test_a_v_name_missing_from_the_environment_is_refused() -> None:
    assert refusal(["-v", "NOPE"]).lines == ("cannot send environment with the job",)


def test_hold_rerun_mail_account_queue_and_begin_time() -> None:
    req = request(["-h", "-r", "n", "-m", "be", "-M", "u@x", "-A", "proj", "-q", "gpu@srv",
                   "-a", "1130"])
    assert (req["hold"], req["requeue"], req["mail_type"], req["mail_user"], req["account"],
            req["partition"]) == (True, False, "BEGIN,END", "u@x", "proj", "gpu")
    # 11:30 has passed at noon: PBS means tomorrow's.
    assert req["begin_time"] == NOW - 1800 + 86400


def test_scripts_get_an_interpreter_line() -> None:
    assert with_interpreter("echo hi\n", None, "/bin/zsh") == "#!/bin/zsh\necho hi\n"
    assert with_interpreter("#!/bin/sh\necho\n", "/bin/bash", "/bin/zsh") == "#!/bin/bash\necho\n"
    assert with_interpreter("#!/bin/sh\necho\n", None, "/bin/zsh") == "#!/bin/sh\necho\n"
    assert command_script(["echo", "a b"]) == "#!/bin/sh\nexec echo 'a b'\n"


@pytest.mark.parametrize("text,parsed,slurm", [
    ("12", (12, None), "12"),
    ("12.server.example.org", (12, None), "12"),
    ("12[]", (12, ""), "12"),
    ("12[3].srv", (12, "3"), "12_3"),
    ("12[1-4]", (12, "1-4"), "12_[1-4]"),
])
def test_pbs_job_ids(text: str, parsed: tuple[int, str | None], slurm: str) -> None:
    assert parse_job_id(text) == parsed
    assert slurm_job_id(*parsed) == slurm


@pytest.mark.parametrize("text", ["abc", "12x", "[1]", ""])
def test_malformed_job_ids(text: str) -> None:
    assert parse_job_id(text) is None


# -- qstat -----------------------------------------------------------------------------------

def record(**fields: Any) -> dict[str, Any]:
    base = {"job_id": 1234, "name": "run", "user": "alice", "partition": "main",
            "state": "RUNNING", "reason": "None", "held": False, "num_nodes": 1, "num_cpus": 2,
            "num_tasks": 1, "mem_per_node": 2048, "gpus_per_node": 0, "time_limit": 60,
            "submit_time": NOW - 120, "eligible_time": NOW - 120, "start_time": NOW - 65,
            "end_time": None, "nodes": ["node1"], "stdout": "/h/run.o1234",
            "stderr": "/h/run.e1234", "submit_host": "login1", "requeue": True,
            "batch_step": None, "array_job_id": None, "array_task_id": None,
            "array_task_string": None}
    return {**base, **fields}


def test_default_table_matches_pbs_columns() -> None:
    jobs = fmt.group([record(), record(job_id=1235, state="PENDING", name="a-very-long-job-name",
                                       user="someone-with-a-long-name")], subjobs=False)
    assert fmt.DEFAULT_HEADER.splitlines()[1] == \
        "----------------  ---------------- ----------------  -------- - -----"
    assert [fmt.default_row(j, "head.example.org") for j in jobs] == [
        "1234.head         run              alice                    0 R main            ",
        "1235.head         a-very-long-job* someone-with-a-*         0 Q main            "]


def test_a_finished_jobs_cpu_time_is_shown() -> None:
    job = fmt.group([record(state="COMPLETED", batch_step={"total_cpu_s": 75.5})],
                    subjobs=False)[0]
    assert fmt.default_row(job, "h").split() == ["1234.h", "run", "alice", "00:01:15", "F", "main"]


@pytest.mark.parametrize("fields,letter", [
    ({"state": "PENDING"}, "Q"),
    ({"state": "PENDING", "held": True}, "H"),
    ({"state": "PENDING", "reason": "Dependency"}, "H"),
    ({"state": "PENDING", "reason": "BeginTime"}, "W"),
    ({"state": "RUNNING"}, "R"),
    ({"state": "COMPLETING"}, "E"),
    ({"state": "CANCELLED"}, "F"),
])
def test_states_map_to_pbs_letters(fields: dict[str, Any], letter: str) -> None:
    assert fmt.record_state(record(**fields)) == letter


def test_an_array_is_one_line_with_its_subjobs_on_request() -> None:
    records = [record(job_id=20, array_job_id=20, array_task_id=None, array_task_string="3-4",
                      state="PENDING", start_time=None),
               record(job_id=21, array_job_id=20, array_task_id=1, state="COMPLETED"),
               record(job_id=22, array_job_id=20, array_task_id=2, state="RUNNING")]
    jobs = fmt.group(records, subjobs=True)
    assert [(j.job_id("s"), fmt.job_state(j)) for j in jobs] == [
        ("20[].s", "B"), ("20[1].s", "X"), ("20[2].s", "R"), ("20[3].s", "Q"), ("20[4].s", "Q")]
    assert fmt.state_counts(jobs[0]) == "Queued:2 Running:1 Exiting:0 Expired:1"
    assert [j.kind for j in fmt.group(records, subjobs=False)] == ["array"]


def test_alternate_table() -> None:
    job = fmt.group([record(job_id=1871052, mem_per_node=16384)], subjobs=False)[0]
    lines = fmt.ALT_HEADER.splitlines()
    assert lines[0] == " " * 60 + "Req'd  Req'd   Elap"
    assert fmt.alt_row(job, "naqf-main04", NOW) == \
        "1871052.naqf-m* alice    main     run           --    1   2   16gb 01:00 R 00:01"


def test_full_listing_wraps_long_values_at_78_columns() -> None:
    assert fmt.attribute("Error_Path", "h:/" + "x" * 70) == \
        "    Error_Path = h:/" + "x" * 59 + "\n\t" + "x" * 11
    assert fmt.attribute("Variable_List", "A=1,B=" + "y" * 70) == \
        "    Variable_List = A=1,\n\tB=" + "y" * 68 + "\n\tyy"


def test_full_listing_of_a_finished_job() -> None:
    job = fmt.group([record(state="COMPLETED", end_time=NOW - 5, exit_code=3,
                            batch_step={"total_cpu_s": 1.0, "max_rss_kb": 900})],
                    subjobs=False)[0]
    text = fmt.full_listing(job, "head", NOW)
    lines = text.splitlines()
    assert lines[:3] == ["Job Id: 1234.head", "    Job_Name = run", "    Job_Owner = alice@login1"]
    for line in ["    job_state = F", "    resources_used.walltime = 00:01:00",
                 "    Exit_status = 3", "    Resource_List.select = 1:ncpus=2:mem=2048mb",
                 "    Resource_List.walltime = 01:00:00", "    exec_host = node1/0*2",
                 f"    ctime = {time.ctime(NOW - 120)}"]:
        assert line in lines
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_sizes_are_shown_within_four_digits() -> None:
    assert [fmt.size(mb) for mb in (100, 9999, 16384)] == ["100mb", "9999mb", "16gb"]
