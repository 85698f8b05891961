"""sacct's output, checked line for line against real Slurm 22.05 transcripts, and its options."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from corral.cli.slurm import sacct
from corral.cli.slurm import sacct_format as fmt

UTC = dt.UTC


def at(clock: str) -> float:
    """Epoch of a wall-clock time on 2026-11-22 (UTC), the day of the transcripts."""
    return dt.datetime.fromisoformat(f"2026-11-22T{clock}").replace(tzinfo=UTC).timestamp()


NOW = at("14:00:00")


def make_job(**overrides: Any) -> dict[str, Any]:
    """A job record as GET /api/v1/accounting/jobs returns it: job 2451 of 08_sacct_parsable2."""
    record: dict[str, Any] = {
        "job_id": 2451, "name": "wrap", "user": "root", "uid": 0, "group": "root", "gid": 0,
        "account": "root", "partition": "debug", "qos": "normal", "state": "COMPLETED",
        "reason": "None", "priority": 1, "nice": 0, "held": False, "requeue": True,
        "restarts": 0, "exclusive": False, "submit_time": at("13:09:56"),
        "eligible_time": at("13:09:56"), "start_time": at("13:10:01"), "end_time": at("13:10:21"),
        "time_limit": None, "num_nodes": 1, "num_tasks": 1, "cpus_per_task": 1, "num_cpus": 1,
        "mem_per_node": 100, "mem_per_cpu": None, "min_memory_node": 100, "gpus_per_node": 0,
        "gpu_type": None, "req_nodes": [], "exc_nodes": [], "nodes": ["vm"], "batch_host": "vm",
        "exit_code": 0, "exit_signal": 0, "cancelled_by": None,
        "batch_step": {"state": "COMPLETED", "exit_code": 0, "exit_signal": 0,
                       "start_time": at("13:10:01"), "end_time": at("13:10:21"),
                       "max_rss_kb": 1088},
        "work_dir": "/tmp/corral-ref", "stdout": "/dev/null", "stderr": "/dev/null",
        "stdin": "/dev/null", "command": None, "submit_host": "localhost", "dependency": None,
        "estimated_start": None,
    }
    record.update(overrides)
    return record


def step(state: str, start: str, end: str | None, code: int = 0, signal: int = 0,
         rss: int | None = 1088) -> dict[str, Any]:
    return {"state": state, "exit_code": code, "exit_signal": signal, "start_time": at(start),
            "end_time": None if end is None else at(end), "max_rss_kb": rss}


def cancelled_running() -> dict[str, Any]:
    """Job 2450 of 14b: scancel'd while running."""
    return make_job(job_id=2450, state="CANCELLED", cancelled_by=0, exit_signal=15,
                    start_time=at("13:09:56"), end_time=at("13:10:00"),
                    batch_step=step("CANCELLED", "13:09:56", "13:10:01", signal=15))


def cancelled_pending(job_id: int = 2452) -> dict[str, Any]:
    """Job 2452 of 14: scancel'd while pending, so it never started."""
    return make_job(job_id=job_id, name="pend_res", state="CANCELLED", cancelled_by=0,
                    start_time=None, end_time=at("13:09:58"), nodes=[], batch_host=None,
                    batch_step=None)


def sacct_out(argv: list[str], records: list[dict[str, Any]], now: float = NOW) -> str:
    """What `sacct ARGV` prints for these history records."""
    opts = sacct.parse_args(argv, environ={})
    return sacct.render_table(sacct.select_views(records, opts, now, UTC), opts)


FORMAT_08 = ("JobID,JobName,State,ExitCode,Elapsed,Start,End,NodeList,AllocCPUS,ReqMem,MaxRSS,"
             "DerivedExitCode")


# ---------------------------------------------------------------------------- transcripts


def test_parsable2_job_and_batch_lines_match_transcript_08() -> None:
    assert sacct_out(["-j", "2451", "--parsable2", f"--format={FORMAT_08}"], [make_job()]) == (
        f"{FORMAT_08.replace(',', '|')}\n"
        "2451|wrap|COMPLETED|0:0|00:00:20|2026-11-22T13:10:01|2026-11-22T13:10:21|vm|1|100M||0:0\n"
        "2451.batch|batch|COMPLETED|0:0|00:00:20|2026-11-22T13:10:01|2026-11-22T13:10:21|vm|1||"
        "1088K|\n")


def test_submitit_status_poll_matches_transcript_08() -> None:
    out = sacct_out(["-o", "JobID,State,NodeList", "--parsable2", "-j", "2451"], [make_job()])
    assert out == "JobID|State|NodeList\n2451|COMPLETED|vm\n2451.batch|COMPLETED|vm\n"


def test_default_fields_use_slurms_widths_and_dashes() -> None:
    assert sacct_out(["-j", "2451"], [make_job()]) == (
        "JobID           JobName  Partition    Account  AllocCPUS      State ExitCode \n"
        "------------ ---------- ---------- ---------- ---------- ---------- -------- \n"
        "2451               wrap      debug       root          1  COMPLETED      0:0 \n"
        "2451.batch        batch                  root          1  COMPLETED      0:0 \n")


def test_unknown_job_prints_only_the_header() -> None:
    assert sacct_out(["-j", "999999", "--parsable2", "--format=JobID,State"], []) == (
        "JobID|State\n")


def test_allocations_noheader_parsable_lists_cancelled_by_uid() -> None:
    records = [cancelled_running(), make_job(), cancelled_pending(), cancelled_pending(2453)]
    assert sacct_out(["-X", "-n", "-P", "-o", "JobID,State", "-j", "2450,2451,2452,2453"],
                     records) == (
        "2450|CANCELLED by 0\n2451|COMPLETED\n2452|CANCELLED by 0\n2453|CANCELLED by 0\n")


def test_noheader_keeps_the_batch_line_without_allocations() -> None:
    assert sacct_out(["-n", "-P", "-o", "JobID,State", "-j", "2451"], [make_job()]) == (
        "2451|COMPLETED\n2451.batch|COMPLETED\n")


def test_raw_ids_times_and_unlimited_timelimit_match_transcript_09() -> None:
    argv = ["-X", "-n", "-P", "-o",
            "JobID,JobIDRaw,State,ExitCode,Submit,Start,End,Elapsed,Timelimit", "-j", "2451"]
    assert sacct_out(argv, [make_job()]) == (
        "2451|2451|COMPLETED|0:0|2026-11-22T13:09:56|2026-11-22T13:10:01|2026-11-22T13:10:21|"
        "00:00:20|UNLIMITED\n")


def test_job_cancelled_while_pending_starts_and_ends_at_the_cancel_time() -> None:
    argv = ["-j", "2452", "--parsable2", "--format=JobID,State,ExitCode,Elapsed,Start,End"]
    out = sacct_out(argv, [cancelled_pending()])
    assert out == ("JobID|State|ExitCode|Elapsed|Start|End\n"
                   "2452|CANCELLED by 0|0:0|00:00:00|2026-11-22T13:09:58|2026-11-22T13:09:58\n")


def test_cancelled_running_job_hides_the_signal_on_the_job_line_only() -> None:
    out = sacct_out(["-j", "2450", "--parsable2", "--format=JobID,JobName,State,ExitCode,Elapsed"],
                    [cancelled_running()])
    assert out == ("JobID|JobName|State|ExitCode|Elapsed\n"
                   "2450|wrap|CANCELLED by 0|0:0|00:00:04\n"
                   "2450.batch|batch|CANCELLED|0:15|00:00:05\n")


def test_failed_job_exit_codes_match_transcript_17() -> None:
    failed = make_job(job_id=2467, state="FAILED", exit_code=3,
                      batch_step=step("FAILED", "13:10:01", "13:10:02", code=3))
    killed = make_job(job_id=2468, state="FAILED", exit_signal=9,
                      batch_step=step("CANCELLED", "13:10:01", "13:10:02", signal=9))
    argv = ["--parsable2", "--format=JobID,State,ExitCode,DerivedExitCode", "-j", "2467,2468"]
    assert sacct_out(argv, [failed, killed]) == (
        "JobID|State|ExitCode|DerivedExitCode\n"
        "2467|FAILED|3:0|0:0\n2467.batch|FAILED|3:0|\n"
        "2468|FAILED|0:9|0:0\n2468.batch|CANCELLED|0:9|\n")


def test_max_rss_is_on_the_batch_line_only() -> None:
    argv = ["-j", "2470", "--parsable2", "--format=JobID,State,ExitCode,MaxRSS"]
    assert sacct_out(argv, [make_job(job_id=2470)]) == (
        "JobID|State|ExitCode|MaxRSS\n2470|COMPLETED|0:0|\n2470.batch|COMPLETED|0:0|1088K\n")


def test_timeout_matches_transcript_18() -> None:
    job = make_job(job_id=2449, name="timeout_demo", state="TIMEOUT", reason="TimeLimit",
                   exit_signal=15, time_limit=1, start_time=at("13:09:56"),
                   end_time=at("13:11:20"),
                   batch_step=step("CANCELLED", "13:09:56", "13:11:21", signal=15))
    argv = ["-j", "2449", "--parsable2",
            "--format=JobID,State,ExitCode,Elapsed,Timelimit,Start,End"]
    assert sacct_out(argv, [job]) == (
        "JobID|State|ExitCode|Elapsed|Timelimit|Start|End\n"
        "2449|TIMEOUT|0:0|00:01:24|00:01:00|2026-11-22T13:09:56|2026-11-22T13:11:20\n"
        "2449.batch|CANCELLED|0:15|00:01:25||2026-11-22T13:09:56|2026-11-22T13:11:21\n")


def test_launch_failure_shows_reason_none_on_the_job_line_match_transcript_19() -> None:
    job = make_job(job_id=2475, state="FAILED", reason="JobLaunchFailure", exit_signal=53,
                   batch_step=step("CANCELLED", "13:10:01", "13:10:01", signal=53))
    argv = ["-j", "2475", "--parsable2", "--format=JobID,State,ExitCode,Reason"]
    assert sacct_out(argv, [job]) == (
        "JobID|State|ExitCode|Reason\n2475|FAILED|0:53|None\n2475.batch|CANCELLED|0:53|\n")


def test_array_tasks_show_their_array_id_and_raw_id_match_transcript_15() -> None:
    tasks = [make_job(job_id=raw, name="arr", array_job_id=2454, array_task_id=task)
             for raw, task in ((2455, 1), (2456, 2), (2457, 3), (2454, 4))]
    assert sacct_out(["-j", "2454", "-P", "-o", "JobID,JobIDRaw,JobName,State,ExitCode"],
                     tasks) == (
        "JobID|JobIDRaw|JobName|State|ExitCode\n"
        "2454_1|2455|arr|COMPLETED|0:0\n2454_1.batch|2455.batch|batch|COMPLETED|0:0\n"
        "2454_2|2456|arr|COMPLETED|0:0\n2454_2.batch|2456.batch|batch|COMPLETED|0:0\n"
        "2454_3|2457|arr|COMPLETED|0:0\n2454_3.batch|2457.batch|batch|COMPLETED|0:0\n"
        "2454_4|2454|arr|COMPLETED|0:0\n2454_4.batch|2454.batch|batch|COMPLETED|0:0\n")
    assert sacct_out(["-X", "-n", "-P", "-j", "2454_2", "-o", "JobID,State"], tasks) == (
        "2454_2|COMPLETED\n")


# ---------------------------------------------------------------------------- behaviour


def test_plain_layout_cuts_long_text_with_a_plus() -> None:
    lines = sacct_out(["-j", "2450"], [cancelled_running()]).splitlines()
    assert lines[2:] == [
        "2450               wrap      debug       root          1 CANCELLED+      0:0 ",
        "2450.batch        batch                  root          1  CANCELLED     0:15 ",
    ]


def test_width_suffix_widens_a_column_and_a_negative_one_left_justifies() -> None:
    lines = sacct_out(["-j", "2451", "-X", "-o", "JobName%15,State%-12"], [make_job()]).splitlines()
    assert lines == ["        JobName State        ", "--------------- ------------ ",
                     "           wrap COMPLETED    "]


def test_parsable_ends_every_line_with_the_delimiter() -> None:
    assert sacct_out(["-p", "-X", "-j", "2451", "-o", "JobID,State"], [make_job()]) == (
        "JobID|State|\n2451|COMPLETED|\n")


def test_pending_job_has_unknown_times_and_no_batch_line() -> None:
    job = make_job(state="PENDING", reason="Resources", start_time=None, end_time=None,
                   nodes=[], batch_host=None, batch_step=None)
    argv = ["-P", "-j", "2451", "-o", "JobID,State,Start,End,Elapsed,NodeList,AllocCPUS,Reason"]
    assert sacct_out(argv, [job]) == (
        "JobID|State|Start|End|Elapsed|NodeList|AllocCPUS|Reason\n"
        "2451|PENDING|Unknown|Unknown|00:00:00|None assigned|0|Resources\n")


def test_running_job_has_unknown_end_and_elapsed_up_to_now() -> None:
    job = make_job(state="RUNNING", end_time=None,
                   batch_step=step("RUNNING", "13:10:01", None, rss=None))
    argv = ["-P", "-j", "2451", "-o", "JobID,State,End,Elapsed,CPUTime,CPUTimeRAW"]
    assert sacct_out(argv, [job], now=at("15:10:01")) == (
        "JobID|State|End|Elapsed|CPUTime|CPUTimeRAW\n"
        "2451|RUNNING|Unknown|02:00:00|02:00:00|7200\n"
        "2451.batch|RUNNING|Unknown|02:00:00|02:00:00|7200\n")


def test_identity_tres_and_limits_fields() -> None:
    job = make_job(num_cpus=4, num_nodes=2, mem_per_node=4096, gpus_per_node=1, time_limit=90,
                   nodes=["n1", "n2"], batch_host="n1", uid=1000, user="alice", group="lab",
                   gid=2000)
    fields = ("User,UID,Group,GID,ReqMem,AllocTRES,ReqTRES,NNodes,AllocNodes,NodeList,"
              "TimelimitRaw,Cluster,QOS,Priority,WorkDir")
    tres = "billing=4,cpu=4,gres/gpu=2,mem=8G,node=2"
    assert sacct_out(["-P", "-j", "2451", "-o", fields], [job]).splitlines()[1:] == [
        f"alice|1000|lab|2000|8G|{tres}|{tres}|2|2|n[1-2]|90|corral|normal|1|/tmp/corral-ref",
        "|||||cpu=2,gres/gpu=1,mem=4G,node=1||1|1|n1||corral|||",
    ]


def test_batch_line_alloc_tres_is_one_node() -> None:
    argv = ["-P", "-n", "-j", "2451", "-o", "AllocTRES,ReqTRES"]
    assert sacct_out(argv, [make_job()]) == (
        "billing=1,cpu=1,mem=100M,node=1|billing=1,cpu=1,mem=100M,node=1\ncpu=1,mem=100M,node=1|\n")


def test_batch_step_selector_prints_only_the_batch_line() -> None:
    assert sacct_out(["-P", "-n", "-o", "JobID,State", "-j", "2451.batch"], [make_job()]) == (
        "2451.batch|COMPLETED\n")


def test_name_partition_and_account_filters() -> None:
    records = [make_job(), make_job(job_id=2452, name="other", partition="gpu", account="lab")]
    assert sacct_out(["-X", "-n", "-P", "-o", "JobID", "--name", "other"], records) == "2452\n"
    assert sacct_out(["-X", "-n", "-P", "-o", "JobID", "-r", "debug"], records) == "2451\n"
    assert sacct_out(["-X", "-n", "-P", "-o", "JobID", "-A", "lab"], records) == "2452\n"


@pytest.mark.parametrize(("kb", "text"), [
    (1088, "1088K"), (2048, "2M"), (1536, "1.50M"), (0, "0"), (512, "512K"),
    (3 * 1024 * 1024, "3G")])
def test_max_rss_units(kb: int, text: str) -> None:
    assert fmt.format_kb(kb) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "00:00:00"), (0.003, "00:00.003"), (65.5, "01:05.500"), (3725, "01:02:05"),
    (90061, "1-01:01:01")])
def test_total_cpu_format(seconds: float, text: str) -> None:
    assert fmt.format_cpu_time(seconds) == text


def test_total_cpu_comes_from_the_batch_step() -> None:
    job = make_job(batch_step={**make_job()["batch_step"], "total_cpu_s": 1.25})
    assert sacct_out(["-P", "-n", "-j", "2451", "-o", "TotalCPU"], [job]) == (
        "00:01.250\n00:01.250\n")


def test_json_document_has_meta_jobs_and_steps() -> None:
    opts = sacct.parse_args(["-j", "2450", "--json"], environ={})
    doc = sacct.to_json(sacct.select_views([cancelled_running()], opts, NOW, UTC))
    assert doc["meta"]["Slurm"]["release"] == "22.05.8" and doc["errors"] == []
    (job,) = doc["jobs"]
    assert job["job_id"] == 2450 and job["name"] == "wrap"
    assert job["state"] == {"current": "CANCELLED", "reason": "None"}
    assert job["exit_code"]["status"] == "SUCCESS"
    assert job["time"]["elapsed"] == 4 and job["time"]["limit"] is None
    assert job["nodes"] == "vm" and job["partition"] == "debug"
    (batch,) = job["steps"]
    assert batch["step"]["id"] == "2450.batch" and batch["state"] == "CANCELLED"
    assert batch["exit_code"] == {"status": "SIGNALED", "return_code": 0,
                                  "signal": {"signal_id": 15}}
    json.dumps(doc)


# ---------------------------------------------------------------------------- options


def test_fields_are_case_insensitive_prefixes_in_slurms_order() -> None:
    names = [c.name for c in fmt.parse_format("jobid,JOBNAME,state%20,end,nodel,user")]
    assert names == ["JobID", "JobName", "State", "End", "NodeList", "User"]
    assert fmt.parse_format("State%20")[0].width == 20


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(ValueError, match='Invalid field requested: "Bogus"'):
        fmt.parse_format("JobID,Bogus")


def test_brief_long_and_default_field_lists() -> None:
    assert sacct.parse_args(["-b"], environ={}).format == "jobid,state,exitcode"
    assert sacct.parse_args([], environ={}).format == fmt.DEFAULT_FIELDS
    assert sacct.parse_args([], environ={"SACCT_FORMAT": "jobid"}).format == "jobid"
    long_columns = fmt.parse_format(sacct.parse_args(["-l"], environ={}).format)
    assert [c.name for c in long_columns[:4]] == ["JobID", "JobIDRaw", "JobName", "Partition"]


def test_job_selectors_accept_steps_and_array_tasks() -> None:
    opts = sacct.parse_args(["-j", "12,13.batch", "--jobs=14_2"], environ={})
    assert opts.jobs == [("12", None), ("13", "batch"), ("14_2", None)]


def test_bad_job_selector_is_fatal() -> None:
    with pytest.raises(sacct.SacctExit) as stop:
        sacct.parse_args(["-j", "abc"], environ={})
    assert stop.value.text == "sacct: fatal: Bad job/step specified: abc\n"


def test_states_accept_short_and_long_names() -> None:
    opts = sacct.parse_args(["-s", "cd,F,timeout", "--state=OOM"], environ={})
    assert opts.states == ["COMPLETED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY"]
    with pytest.raises(sacct.SacctExit, match="unrecognized job state value 'nope'"):
        sacct.parse_args(["-s", "nope"], environ={})


def test_output_modes_and_flags() -> None:
    opts = sacct.parse_args(["-XnP", "-u", "alice,bob", "-a", "-L", "--delimiter=,"], environ={})
    assert (opts.no_steps, opts.header, opts.mode) == (True, False, "parsable2")
    assert opts.delimiter == ","
    assert opts.users == ["alice", "bob"] and opts.all_users
    assert sacct.parse_args(["-u", "-1"], environ={}).all_users


def test_version_and_unknown_options() -> None:
    with pytest.raises(sacct.SacctExit) as stop:
        sacct.parse_args(["-V"], environ={})
    assert (stop.value.text, stop.value.code, stop.value.stdout) == ("slurm-wlm 22.05.8\n", 0, True)
    with pytest.raises(sacct.SacctExit) as stop:
        sacct.parse_args(["--bogus"], environ={})
    assert stop.value.text == ("sacct: unrecognized option '--bogus'\n"
                               'Try "sacct --help" for more information\n')


def test_default_window_starts_at_midnight_without_jobs_and_is_open_with_jobs() -> None:
    assert sacct.resolve_window(sacct.parse_args([], environ={}), NOW, UTC) == (
        at("00:00:00"), None)
    assert sacct.resolve_window(sacct.parse_args(["-j", "1"], environ={}), NOW, UTC) == (
        None, None)
    assert sacct.resolve_window(sacct.parse_args(["-s", "R"], environ={}), NOW, UTC) == (
        NOW, None)


def test_explicit_window_is_parsed_and_a_bad_time_is_refused() -> None:
    opts = sacct.parse_args(["-S", "2026-11-22T10:00:00", "-E", "now"], environ={})
    assert sacct.resolve_window(opts, NOW, UTC) == (at("10:00:00"), NOW)
    with pytest.raises(sacct.SacctExit) as stop:
        sacct.resolve_window(sacct.parse_args(["-S", "yesterdayish"], environ={}), NOW, UTC)
    assert stop.value.text == "sacct: error: Invalid time specification: yesterdayish\n"


def test_help_fields_lists_four_names_a_line() -> None:
    first = sacct.help_fields().splitlines()[0]
    assert first == f"{'Account':<19} {'AdminComment':<19} {'AllocCPUS':<19} {'AllocNodes':<19}"


class FakeHistoryClient:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.queries: list[dict[str, Any]] = []

    def history(self, **query: Any) -> list[dict[str, Any]]:
        self.queries.append(query)
        return self.records


def test_body_asks_all_users_for_job_ids_and_prints(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeHistoryClient([make_job()])
    argv = ["-j", "2451", "-X", "-n", "-P", "-o", "JobID,State"]
    code = sacct._body(client, argv)  # type: ignore[arg-type]
    assert code == 0 and capsys.readouterr().out == "2451|COMPLETED\n"
    assert client.queries == [{"user": None, "all_users": True, "job_ids": ["2451"],
                               "start": None, "end": None, "states": None}]


def test_body_reports_a_bad_field_before_asking(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeHistoryClient([])
    assert sacct._body(client, ["-o", "Nope"]) == 1  # type: ignore[arg-type]
    assert capsys.readouterr().err == 'sacct: error: Invalid field requested: "Nope"\n'
    assert client.queries == []


# ---------------------------------------------------------------------------- --units, --noconvert


@pytest.mark.parametrize(("num", "orig", "units", "convert", "text"), [
    (1114112, 0, None, True, "1088K"),      # Slurm's default: exact conversion of bytes
    (1048576, 0, None, True, "1M"),         # 1024 is a whole unit up, as convert_num_unit has it
    (1114112, 0, "K", True, "1088K"),       # --units=K
    (1114112, 0, "M", True, "1.06M"),       # --units=M: two decimals when not whole
    (100, 2, "K", True, "102400K"),         # ReqMem (MiB) asked for in K
    (1114112, 0, None, False, "1114112"),   # --noconvert: bytes as they are, no letter
    (100, 2, None, False, "100M"),          # --noconvert on a MiB field keeps its own unit
    (1114112, 0, "K", False, "1088K"),      # --units overrides --noconvert, as in Slurm
    (0, 0, "K", True, "0")])
def test_convert_num_unit_as_slurm(num: int, orig: int, units: str | None, convert: bool,
                                   text: str) -> None:
    assert fmt.convert_num_unit(num, orig, units, convert) == text


def test_units_k_prints_max_rss_as_myqueue_reads_it() -> None:
    # myqueue's SLURM.maxrss: `sacct -j ID -n --units=K -o MaxRSS`, a line ending in K per step
    out = sacct_out(["-j", "2451", "-n", "--units=K", "-o", "MaxRSS"],
                    [make_job(batch_step=step("COMPLETED", "13:10:01", "13:10:21", rss=2048))])
    assert [line.strip() for line in out.splitlines()] == ["", "2048K"]


def test_units_and_noconvert_change_only_size_fields() -> None:
    record = make_job(batch_step=step("COMPLETED", "13:10:01", "13:10:21", rss=2048))
    argv = ["-j", "2451", "-n", "-P", "-o", "JobID,ReqMem,MaxRSS,AveRSS,Elapsed"]
    assert sacct_out(argv, [record]) == "2451|100M|||00:00:20\n2451.batch||2M|2M|00:00:20\n"
    assert sacct_out(argv + ["--units=G"], [record]) == (
        "2451|0.10G|||00:00:20\n2451.batch||0.00G|0.00G|00:00:20\n")
    assert sacct_out(argv + ["--noconvert"], [record]) == (
        "2451|100M|||00:00:20\n2451.batch||2097152|2097152|00:00:20\n")


@pytest.mark.parametrize("value", ["X", "b", "Bytes"])
def test_bad_units_are_refused_in_sacct_words(value: str) -> None:
    with pytest.raises(sacct.SacctExit) as caught:
        sacct.parse_args([f"--units={value}"], environ={})
    assert caught.value.text == (
        f"sacct: error: Invalid unit type '{value[0]}'. Possible options are 'KMGTP'\n"
        "sacct: fatal: Invalid unit type\n")
    assert caught.value.code == 1
