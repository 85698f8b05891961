"""squeue's output, reproduced from records shaped like docs/spec/03-rest-api.md (no controller)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from corral.cli.common.getopt import OptionError
from corral.cli.common.runner import CommandError
from corral.cli.slurm import squeue, squeue_json
from corral.cli.slurm import squeue_format as sf
from corral.cli.slurm.squeue_sort import sort_jobs

UTC = dt.UTC
T0 = 1795352996.0  # 2026-11-22T13:09:56Z, when the reference jobs were submitted
NOW = T0 + 2


def job(job_id: int, **fields: Any) -> dict[str, Any]:
    """A job record as GET /api/v1/jobs returns it (docs/spec/03-rest-api.md)."""
    record: dict[str, Any] = {
        "job_id": job_id, "name": "wrap", "user": "root", "uid": 0, "group": "root", "gid": 0,
        "account": "root", "partition": "debug", "qos": "normal",
        "state": "PENDING", "reason": "None", "priority": 1, "nice": 0,
        "held": False, "requeue": True, "restarts": 0, "exclusive": False,
        "submit_time": T0, "eligible_time": T0, "start_time": None, "end_time": None,
        "time_limit": None, "num_nodes": 1, "num_tasks": 1, "cpus_per_task": 1, "num_cpus": 1,
        "mem_per_node": 100, "mem_per_cpu": None, "min_memory_node": 100, "gpus_per_node": 0,
        "gpu_type": None, "tres_per_node": None, "req_nodes": [], "exc_nodes": [], "nodes": [],
        "batch_host": None, "alloc_gpus": {}, "exit_code": 0, "exit_signal": 0,
        "cancelled_by": None, "batch_step": None, "work_dir": "/tmp/corral-ref",
        "stdout": "/dev/null", "stderr": "/dev/null", "stdin": "/dev/null", "command": None,
        "submit_host": "vm", "dependency": None, "estimated_start": None,
    }
    record.update(fields)
    return record


def running(job_id: int, **fields: Any) -> dict[str, Any]:
    base = {"state": "RUNNING", "start_time": T0, "nodes": ["vm"], "batch_host": "vm"}
    return job(job_id, **{**base, **fields})


def reference_queue() -> list[dict[str, Any]]:
    """The queue of 03_squeue_default.txt: two running, three pending (2451 next in line)."""
    return [
        running(2449, name="timeout_demo", time_limit=1, mem_per_node=50, min_memory_node=50),
        running(2450),
        job(2451, reason="Resources", priority=2, estimated_start=T0 + 60),
        job(2452, name="pend_res"),
        job(2453, name="pend_prio", priority=2),
    ]


def lines(fmt: str, jobs: list[dict[str, Any]] | None = None, *, header: bool = True,
          long: bool = False) -> list[str]:
    fields = sf.parse_long_format(fmt) if long else sf.parse_format(fmt)
    ordered = sort_jobs(reference_queue() if jobs is None else jobs, None, NOW)
    return sf.render(ordered, fields, NOW, header=header, tz=UTC)


def test_default_listing_matches_03() -> None:
    assert lines(sf.DEFAULT_FORMAT) == [
        "             JOBID PARTITION     NAME     USER ST       TIME  NODES NODELIST(REASON)",
        "              2451     debug     wrap     root PD       0:00      1 (Resources)",
        "              2453     debug pend_pri     root PD       0:00      1 (None)",
        "              2452     debug pend_res     root PD       0:00      1 (None)",
        "              2449     debug timeout_     root  R       0:02      1 vm",
        "              2450     debug     wrap     root  R       0:02      1 vm",
    ]


def test_pipe_separated_codes_match_04() -> None:
    assert lines("%i|%T|%r|%j|%u|%P|%D|%C|%m|%l|%M|%S|%V|%N", header=False) == [
        ("2451|PENDING|Resources|wrap|root|debug|1|1|100M|UNLIMITED|0:00|2026-11-22T13:10:56"
        "|2026-11-22T13:09:56|"),
        "2453|PENDING|None|pend_prio|root|debug|1|1|100M|UNLIMITED|0:00|N/A|2026-11-22T13:09:56|",
        "2452|PENDING|None|pend_res|root|debug|1|1|100M|UNLIMITED|0:00|N/A|2026-11-22T13:09:56|",
        ("2449|RUNNING|None|timeout_demo|root|debug|1|1|50M|1:00|0:02|2026-11-22T13:09:56"
        "|2026-11-22T13:09:56|vm"),
        ("2450|RUNNING|None|wrap|root|debug|1|1|100M|UNLIMITED|0:02|2026-11-22T13:09:56"
        "|2026-11-22T13:09:56|vm"),
    ]


def test_long_format_names_pad_to_20_as_04() -> None:
    assert lines("JobID,State,Reason,Name", header=False, long=True) == [
        "2451                PENDING             Resources           wrap                ",
        "2453                PENDING             None                pend_prio           ",
        "2452                PENDING             None                pend_res            ",
        "2449                RUNNING             None                timeout_demo        ",
        "2450                RUNNING             None                wrap                ",
    ]


def test_csv_with_header_matches_05() -> None:
    assert lines('"%i","%j","%t","%M","%L","%D","%C","%m","%b","%R"') == [
        ('"JOBID","NAME","ST","TIME","TIME_LEFT","NODES","CPUS","MIN_MEMORY","TRES_PER_NODE",'
        '"NODELIST(REASON)"'),
        '"2451","wrap","PD","0:00","UNLIMITED","1","1","100M","N/A","(Resources)"',
        '"2453","pend_prio","PD","0:00","UNLIMITED","1","1","100M","N/A","(None)"',
        '"2452","pend_res","PD","0:00","UNLIMITED","1","1","100M","N/A","(None)"',
        '"2449","timeout_demo","R","0:02","0:58","1","1","50M","N/A","vm"',
        '"2450","wrap","R","0:02","UNLIMITED","1","1","100M","N/A","vm"',
    ]


def test_long_format_options() -> None:
    fields = sf.parse_long_format("jobid:.6|,STATE:3,name:,bogus")
    assert [(f.key, f.width, f.right, f.suffix) for f in fields] == [
        ("A", 6, True, "|"), ("T", 3, False, ""), ("j", 0, False, ""), (None, 0, False, "bogus")]
    assert sf.header_line(fields) == " JOBID|STANAMEbogus"


def test_widths_justify_and_truncate_like_print_str() -> None:
    assert sf.pad("timeout_demo", 8, right=True) == "timeout_"
    assert sf.pad("ab", 5, right=True) == "   ab"
    assert sf.pad("ab", 5, right=False) == "ab   "
    assert sf.pad("abcdef", 3, right=False) == "abc"
    assert sf.pad("node[1-20]", 4, right=True, cut=False) == "node[1-20]"
    assert sf.pad("anything", 0, right=True) == "anything"
    fields = sf.parse_format("%-6i|%5j|%.3t")
    assert sf.render([job(7, name="longname")], fields, NOW) == [
        "JOBID |NAME | ST", "7     |longn| PD"]


def test_leading_text_unknown_codes_and_double_percent() -> None:
    fields = sf.parse_format("id=%i %% %s%!")
    assert sf.render([job(7)], fields, NOW) == ["id=JOBID % %s%!", "id=7 % %s%!"]


def test_reason_list_shows_nodes_for_running_and_reason_for_failed() -> None:
    jobs = [running(1, nodes=["n1", "n2", "n3"], num_nodes=3),
            job(2, state="FAILED", reason="NonZeroExitCode", start_time=T0, end_time=T0 + 1,
                nodes=["n1"]),
            job(3, state="CANCELLED", start_time=None, nodes=[])]
    assert sf.render(jobs, sf.parse_format("%i %R %D"), NOW, header=False) == [
        "1 n[1-3] 3", "2 (NonZeroExitCode) 1", "3  1"]


def test_array_ids_and_task_fields_match_15() -> None:
    folded = job(2454, name="arr", array_job_id=2454, array_task_string="2-4%2",
                 reason="Resources")
    task1 = running(2455, name="arr", array_job_id=2454, array_task_id=1, start_time=T0 + 27)
    old = running(2449, name="timeout_demo", time_limit=1)
    now = T0 + 28
    out = sf.render(sort_jobs([old, task1, folded], None, now),
                    sf.parse_format(sf.DEFAULT_FORMAT), now)
    assert out[1:] == [
        "      2454_[2-4%2]     debug      arr     root PD       0:00      1 (Resources)",
        "            2454_1     debug      arr     root  R       0:01      1 vm",
        "              2449     debug timeout_     root  R       0:28      1 vm",
    ]
    tasks = [job(2454, array_job_id=2454, array_task_id=2), task1, old]
    assert sf.render(tasks, sf.parse_format("%i %A %F %K %T"), now, header=False) == [
        "2454_2 2454 2454 2 PENDING", "2454_1 2455 2454 1 RUNNING", "2449 2449 2449 N/A RUNNING"]


def test_dependency_column_matches_16() -> None:
    jobs = [job(2460, name="dep_child", reason="Dependency",
                dependency="afterok:2459(unfulfilled)"),
            job(2459, name="dep_parent")]
    assert sf.render(jobs, sf.parse_format("%i %j %T %r %E"), NOW, header=False) == [
        "2460 dep_child PENDING Dependency afterok:2459(unfulfilled)",
        "2459 dep_parent PENDING None (null)"]


def test_times_end_and_limits() -> None:
    unlimited = running(1)
    limited = running(2, time_limit=90, start_time=NOW - 3 * 3600 - 5)
    done = job(3, state="COMPLETED", start_time=T0 - 86400 - 3600, end_time=T0)
    fields = sf.parse_format("%M|%l|%L|%e")
    assert sf.render([unlimited, limited, done], fields, NOW, header=False, tz=UTC) == [
        "0:02|UNLIMITED|UNLIMITED|NONE",
        "3:00:05|1:30:00|INVALID|2026-11-22T11:39:53",
        "1-01:00:00|UNLIMITED|UNLIMITED|2026-11-22T13:09:56",
    ]


def test_memory_tres_and_misc_codes() -> None:
    gpu = running(5, mem_per_cpu=2048, gpus_per_node=2, gpu_type="a100", nice=5,
                  priority=4294901748, exclusive=True, exc_nodes=["n1", "n2"])
    fields = sf.parse_format("%m %b %y %Q %h %x %B %o %U %G %p")
    assert sf.render([gpu], fields, NOW, header=False) == [
        "2G gres:gpu:a100:2 5 4294901748 NO n[1-2] vm (null) 0 0 0.99998473864980"]
    assert sf.render([job(6, min_memory_node=0)], sf.parse_format("%m"), NOW, header=False) == [
        "0"]


def test_missing_fields_degrade() -> None:
    bare = {"job_id": 9, "state": "RUNNING"}
    out = sf.render([bare], sf.parse_format(sf.LONG_FORMAT + " %S %m %b %e"), NOW, header=False)
    assert out == [("                 9    (null)   (null)           RUNNING       0:00 "
                   "UNLIMITED      1  N/A 0 N/A NONE")]


def test_sort_order_states_as_strings_then_priority_then_latest_start() -> None:
    jobs = [running(1, start_time=T0 - 10), running(2, start_time=T0), job(3, priority=5),
            job(4, state="COMPLETING", start_time=T0), job(5, priority=9), job(6)]
    assert [j["job_id"] for j in sort_jobs(jobs, None, NOW)] == [4, 5, 3, 6, 2, 1]
    assert [j["job_id"] for j in sort_jobs(jobs, "-i", NOW)] == [6, 5, 4, 3, 2, 1]
    assert [j["job_id"] for j in sort_jobs(jobs, "t,i", NOW)] == [4, 3, 5, 6, 1, 2]
    with pytest.raises(ValueError, match="Invalid sort specification: %"):
        sort_jobs(jobs, "%", NOW)


# --------------------------------------------------------------------------- the command


def request(*argv: str) -> squeue.Request:
    return squeue.parse_request(list(argv), environ={}, me=lambda: "root")


def run(argv: list[str], jobs: list[dict[str, Any]], users: set[str] | None = None) -> list[str]:
    return squeue.listing(request(*argv), jobs, users, NOW, tz=UTC)


def test_user_and_jobs_filter_match_06() -> None:
    queue = reference_queue()
    root = {"root", "0"}
    assert run(["-u", "root", "-j", "2450,2452", "-o", "%i %T %r"], queue, root) == [
        "JOBID STATE REASON", "2452 PENDING None", "2450 RUNNING None"]
    assert run(["-u", "root", "-j", "2450", "-h", "-o", "%T"], queue, root) == ["RUNNING"]
    assert run(["-h", "-j", "2450,2452,2453", "-o", "%i %t"], queue) == [
        "2453 PD", "2452 PD", "2450 R"]
    assert run(["-h", "-t", "PENDING", "-o", "%i %r"], queue) == [
        "2451 Resources", "2453 None", "2452 None"]
    assert run(["--me", "-h", "-o", "%i"], queue, {"alice"}) == []


def test_finished_jobs_hidden_unless_asked_as_14() -> None:
    queue = [job(2452, name="pend_res", state="CANCELLED")]
    assert run(["-j", "2452"], queue) == [sf.header_line(sf.parse_format(sf.DEFAULT_FORMAT))]
    assert run(["-h", "-j", "2452", "-t", "all", "-o", "%i %T %r"], queue) == [
        "2452 CANCELLED None"]
    assert run(["-h", "-t", "cd,ca", "-o", "%i"], queue) == ["2452"]


def test_long_listing_has_date_line_and_long_format() -> None:
    out = run(["-l"], reference_queue())
    assert out[0] == "Sun Nov 22 13:09:58 2026"
    assert out[1] == ("             JOBID PARTITION     NAME     USER    STATE       TIME "
                      "TIME_LIMI  NODES NODELIST(REASON)")
    assert out[-1] == ("              2450     debug     wrap     root  RUNNING       0:02 "
                       "UNLIMITED      1 vm")


def test_start_lists_pending_only_by_expected_start() -> None:
    queue = reference_queue()
    queue[4]["estimated_start"] = T0 + 30
    assert run(["--start"], queue) == [
        "             JOBID PARTITION     NAME     USER ST          START_TIME  NODES SCHEDNODES"
        "           NODELIST(REASON)",
        "              2453     debug pend_pri     root PD 2026-11-22T13:10:26      1 (null)    "
        "           (None)",
        "              2451     debug     wrap     root PD 2026-11-22T13:10:56      1 (null)    "
        "           (Resources)",
        "              2452     debug pend_res     root PD                 N/A      1 (null)    "
        "           (None)",
    ]


def test_start_yields_to_explicit_format_sort_and_states() -> None:
    env = {"SQUEUE_FORMAT": "%j"}
    assert squeue.parse_request(["--start"], environ=env).fields == sf.parse_format(
        sf.START_FORMAT)
    assert squeue.parse_request(["--start", "-o", "%i"], environ=env).fields == sf.parse_format(
        "%i")
    assert request("--start", "-S", "i").sort == "i"
    assert request("--start", "-t", "R").states == frozenset({"RUNNING"})
    assert request("--start", "-t", "all").states is None


def test_options_errors() -> None:
    with pytest.raises(OptionError, match="squeue: unrecognized option '--x'"):
        request("--x")
    with pytest.raises(CommandError, match="Invalid job state specified: bogus"):
        request("-t", "bogus")
    with pytest.raises(CommandError, match="Invalid job id: 12x"):
        request("-j", "12x")
    assert request("-V").show == "version"
    assert request("--vers").show == "version"
    assert request("-j", "2454_4,2454_[1-3]").job_ids == ["2454_4", "2454_[1-3]"]


def test_format_precedence_and_env() -> None:
    assert request("-l", "-o", "%i").fields == sf.parse_format("%i")
    assert request("-o", "%i", "-O", "name").fields == sf.parse_long_format("name")
    env_req = squeue.parse_request([], environ={"SQUEUE_FORMAT": "%j"})
    assert env_req.fields == sf.parse_format("%j")


def test_json_document_v0038() -> None:
    (text,) = run(["--json"], reference_queue())
    doc = json.loads(text)
    assert sorted(doc) == ["errors", "jobs", "meta"]
    assert doc["meta"]["plugin"]["type"] == "openapi/v0.0.38"
    assert doc["meta"]["Slurm"]["release"] == "22.05.8"
    first = next(j for j in doc["jobs"] if j["job_id"] == 2449)
    assert {k: first[k] for k in (
        "job_id", "job_state", "name", "state_reason", "exit_code", "array_job_id",
        "array_task_id", "partition", "user_name", "nodes", "cpus", "memory_per_node",
        "submit_time", "start_time", "end_time", "time_limit")} == {
        "job_id": 2449, "job_state": "RUNNING", "name": "timeout_demo", "state_reason": "None",
        "exit_code": 0, "array_job_id": 0, "array_task_id": None, "partition": "debug",
        "user_name": "root", "nodes": "vm", "cpus": 1, "memory_per_node": 50,
        "submit_time": 1795352996, "start_time": 1795352996, "end_time": 1795353056,
        "time_limit": 1}
    assert "\\/" in squeue_json.dumps({"p": "/tmp"})
    assert len(squeue_json.job_json(job(1))) > 100


def test_invalid_user_warns_and_prints_header(capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    class NoClient:
        def jobs(self, **_: Any) -> list[Any]:
            raise AssertionError("no job can match an unknown user")

        def close(self) -> None:
            pass

    monkeypatch.setattr(squeue, "run_command", lambda prog, body, argv: body(NoClient(), argv))
    assert squeue.main(["-u", "nosuchuser-corral"]) == 0
    out, err = capsys.readouterr()
    assert out == sf.header_line(sf.parse_format(sf.DEFAULT_FORMAT)) + "\n"
    assert err == "squeue: error: Invalid user: nosuchuser-corral\n\n"


def test_unknown_single_job_id_is_an_error(capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    class Empty:
        def jobs(self, **_: Any) -> list[Any]:
            return []

    monkeypatch.setattr(squeue, "run_command", lambda prog, body, argv: body(Empty(), argv))
    assert squeue.main(["-h", "-j", "999999"]) == 1
    assert capsys.readouterr() == ("", "slurm_load_jobs error: Invalid job id specified\n")
    assert squeue.main(["-h", "-j", "2451,2467", "-o", "%i %T"]) == 0
    assert capsys.readouterr() == ("", "")
    assert squeue.main(["--bogus"]) == 1
    assert capsys.readouterr().err == (
        "squeue: unrecognized option '--bogus'\nTry \"squeue --help\" for more information\n")
    assert squeue.main(["-V"]) == 0
    assert capsys.readouterr().out == "slurm-wlm 22.05.8\n"
