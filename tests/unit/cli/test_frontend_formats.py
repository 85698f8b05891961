"""The machine-read layouts of the PBS and LSF front-ends: `qstat -f -F json` (psij's pbs
executor) and `bjobs -o ... -json` (psij's lsf executor), and qstat -Q's queue table."""

from __future__ import annotations

import json
from typing import Any

import pytest

from corral.cli.lsf import bjobs_fields
from corral.cli.lsf.bjobs import Row
from corral.cli.lsf.options import LsfError
from corral.cli.pbs import qstat_format as fmt
from corral.cli.pbs import qstat_queues

NOW = 1_700_000_100.0


def _record(**extra: Any) -> dict[str, Any]:
    rec = {"job_id": 7, "name": "sim", "user": "ann", "partition": "main", "state": "FAILED",
           "submit_time": NOW - 100, "start_time": NOW - 90, "end_time": NOW - 10,
           "nodes": ["node1"], "num_nodes": 1, "num_cpus": 2, "num_tasks": 1,
           "mem_per_node": 512, "time_limit": 5, "exit_code": 3, "exit_signal": 0,
           "submit_host": "login", "stdout": "/w/sim.o7", "stderr": "/w/sim.e7"}
    rec.update(extra)
    return rec


def test_qstat_json_nests_resources_and_prints_numbers_as_numbers() -> None:
    job = fmt.group([_record()], subjobs=False)[0]
    report = json.loads(fmt.json_report([job], "srv", NOW, "2022.1.0"))
    assert (report["pbs_server"], report["pbs_version"]) == ("srv", "2022.1.0")
    attrs = report["Jobs"]["7.srv"]
    assert attrs["job_state"] == "F" and attrs["Exit_status"] == 3
    assert attrs["Resource_List"]["ncpus"] == 2 and attrs["Resource_List"]["walltime"] == "00:05:00"
    assert attrs["resources_used"]["walltime"] == "00:01:20"
    assert "Resource_List.ncpus" not in attrs


def test_qstat_json_exit_status_of_a_killed_job_is_256_plus_the_signal() -> None:
    job = fmt.group([_record(state="CANCELLED", exit_code=0, exit_signal=15)], subjobs=False)[0]
    attrs = json.loads(fmt.json_report([job], "srv", NOW, "v"))["Jobs"]["7.srv"]
    assert attrs["Exit_status"] == 271


def test_qstat_json_layout_is_pbs_pros() -> None:
    text = fmt.json_report([], "srv", NOW, "v")
    assert text.splitlines()[:2] == ["{", f'    "timestamp":{int(NOW)},']


def test_qstat_dsv_escapes_the_delimiter() -> None:
    job = fmt.group([_record(name="a|b")], subjobs=False)[0]
    line = fmt.dsv_line(job, "srv", NOW)
    assert line.startswith("Job Id: 7.srv|Job_Name=a\\|b|")


def test_qstat_queue_summary_counts_unfinished_jobs_by_state() -> None:
    jobs = fmt.group([_record(job_id=1, state="RUNNING", end_time=None),
                      _record(job_id=2, state="PENDING", start_time=None, nodes=[]),
                      _record(job_id=3, state="PENDING", held=True, nodes=[])], subjobs=False)
    row = qstat_queues.summary_row({"name": "main", "state": "UP"}, jobs)
    assert row == ("main                 0     3 yes yes     1     1     1     0     0     0 "
                   "Exec")
    assert qstat_queues.HEADER.splitlines()[0].split() == [
        "Queue", "Max", "Tot", "Ena", "Str", "Que", "Run", "Hld", "Wat", "Trn", "Ext", "Type"]


def _row(**extra: Any) -> Row:
    return Row(_record(**extra), 7, None)


def test_bjobs_json_is_psijs_layout_with_an_error_record_per_unknown_id() -> None:
    layout = bjobs_fields.parse_layout("JOBID STAT EXIT_REASON KILL_REASON SUSPEND_REASON")
    report = json.loads(bjobs_fields.json_report([_row()], layout, NOW, ["99"]))
    assert report["COMMAND"] == "bjobs" and report["JOBS"] == 2
    assert report["RECORDS"] == [
        {"JOBID": "7", "STAT": "EXIT", "EXIT_REASON": "", "KILL_REASON": "",
         "SUSPEND_REASON": ""},
        {"JOBID": "99", "ERROR": "Job <99> is not found"}]


def test_bjobs_json_exit_reason_names_what_lsf_itself_ended() -> None:
    layout = bjobs_fields.parse_layout("stat exit_reason")
    report = json.loads(bjobs_fields.json_report([_row(state="TIMEOUT")], layout, NOW, []))
    assert report["RECORDS"][0]["EXIT_REASON"] == "Job killed after reaching LSF run time limit"


def test_bjobs_o_table_pads_cuts_and_aligns() -> None:
    layout = bjobs_fields.parse_layout("id name:3 exit_code:-4 proj")
    text = bjobs_fields.table([_row(account="physics")], layout, NOW, header=True)
    assert text.splitlines() == ["JOBID   JO* EXI* PROJ_NAME",
                                 "7       sim    3 physics"]


def test_bjobs_o_delimiter_joins_unpadded_and_marks_missing_values() -> None:
    layout = bjobs_fields.parse_layout("jobid stat exit_code delimiter=','")
    text = bjobs_fields.table([_row(state="COMPLETED", exit_code=0)], layout, NOW, header=False)
    assert text == "7,DONE,-\n"


def test_bjobs_o_refuses_an_unknown_field() -> None:
    with pytest.raises(LsfError) as caught:
        bjobs_fields.parse_layout("jobid colour")
    assert caught.value.message == "Invalid field name: colour"
