"""sacct's options as the client tools give them: -M, -S/-E now, --name, widths, --array, and
the options corral refuses by name."""

from __future__ import annotations

import shlex
from typing import Any

import pytest
from test_sacct_format import NOW, UTC, at, make_job, sacct_out

from corral.cli.slurm import sacct

# The command lines the installed tools run (snakemake's slurm plugin, parsl, submitit).
SNAKEMAKE_STATUS = ("-X --parsable2 --clusters all --noheader --format=JobIdRaw,State "
                    "--starttime 2026-11-20T14:00 --endtime now --name 5f1c")
SNAKEMAKE_REPORT = ("--name=5f1c --parsable2 --noheader "
                    "--format=JobID,JobName,Comment,Elapsed,TotalCPU,NNodes,NCPUS,MaxRSS,ReqMem")
PARSL_STATUS = "--clusters=corral -X --noheader --format=jobid,state%20 --job '2451,2452'"


def test_snakemakes_status_query_reads_every_option() -> None:
    opts = sacct.parse_args(shlex.split(SNAKEMAKE_STATUS), environ={})
    assert (opts.no_steps, opts.mode, opts.header, opts.clusters, opts.names) == (
        True, "parsable2", False, None, ["5f1c"])
    assert sacct.resolve_window(opts, NOW, UTC) == (at("14:00:00") - 2 * 86400, NOW)
    records = [make_job(name="5f1c"), make_job(job_id=2452, name="other")]
    assert sacct_out(shlex.split(SNAKEMAKE_STATUS), records) == "2451|COMPLETED\n"


def test_snakemakes_efficiency_report_lists_the_job_and_its_batch_step() -> None:
    out = sacct_out(shlex.split(SNAKEMAKE_REPORT), [make_job(name="5f1c", comment="rule_a")])
    assert out.splitlines() == ["2451|5f1c|rule_a|00:00:20|00:00:00|1|1||100M",
                                "2451.batch|batch||00:00:20|00:00:00|1|1|1088K|"]


def test_parsl_reads_a_wide_state_column_for_its_jobs() -> None:
    records = [make_job(), make_job(job_id=2452, state="CANCELLED", cancelled_by=1000)]
    out = sacct_out(shlex.split(PARSL_STATUS), records)
    assert out.splitlines() == ["2451         " + "COMPLETED".rjust(20) + " ",
                                "2452         " + "CANCELLED by 1000".rjust(20) + " "]


@pytest.mark.parametrize("spec, text", [("nodelist%-256", "vm".ljust(256) + " "),
                                        ("Account%256", "root".rjust(256) + " ")])
def test_snakemakes_wide_single_columns(spec: str, text: str) -> None:
    assert sacct_out(["-j", "2451", "-n", "-X", "-o", spec], [make_job()]) == text + "\n"


def test_relative_times_count_back_from_now() -> None:
    opts = sacct.parse_args(["--starttime", "now-2days", "-E", "now-1hour"], environ={})
    assert sacct.resolve_window(opts, NOW, UTC) == (NOW - 2 * 86400, NOW - 3600)


def test_names_and_qos_are_comma_lists() -> None:
    records = [make_job(name="a"), make_job(job_id=2, name="b", qos="high"),
               make_job(job_id=3, name="c")]
    assert sacct_out(["-XnP", "-o", "JobID", "--name", "a,b"], records) == "2451\n2\n"
    assert sacct_out(["-XnP", "-o", "JobID", "-q", "high"], records) == "2\n"


@pytest.mark.parametrize("argv, clusters", [
    (["-M", "all"], None), (["--clusters=-1"], None), (["-L"], None), ([], None),
    (["-M", "Corral,other"], ["corral", "other"])])
def test_clusters_all_or_names(argv: list[str], clusters: list[str] | None) -> None:
    assert sacct.parse_args(argv, environ={}).clusters == clusters


class FakeClient:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records

    def history(self, **query: Any) -> list[dict[str, Any]]:
        return self.records

    def config(self) -> dict[str, Any]:
        return {"ClusterName": "corral"}


@pytest.mark.parametrize("cluster, out", [("corral", "2451\n"), ("all", "2451\n"),
                                          ("elsewhere", "")])
def test_another_clusters_jobs_are_none_of_ours(cluster: str, out: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["-j", "2451", "-XnP", "-o", "JobID", "-M", cluster]
    assert sacct._body(FakeClient([make_job()]), argv) == 0  # type: ignore[arg-type]
    assert capsys.readouterr().out == out


def test_array_expands_the_pending_remainder_one_line_per_task() -> None:
    pending = make_job(job_id=7, array_job_id=7, array_tasks="3-5%2", array_task_string="3-5%2",
                       state="PENDING", start_time=None, end_time=None, batch_step=None)
    assert sacct_out(["-XnP", "-o", "JobID"], [pending]) == "7_[3-5%2]\n"
    assert sacct_out(["-XnP", "-o", "JobID", "--array"], [pending]) == "7_3\n7_4\n7_5\n"


@pytest.mark.parametrize("name", sorted(sacct.REFUSED))
def test_each_refused_option_is_refused_by_name(name: str) -> None:
    option = next(o for o in sacct.OPTIONS if o.long == name)
    argv = [f"--{name}=x" if option.takes_value else f"--{name}"]
    with pytest.raises(sacct.SacctExit) as stop:
        sacct.parse_args(argv, environ={})
    assert (stop.value.text, stop.value.code) == (
        f"sacct: error: --{name}: option not supported by corral\n", 1)


def test_options_with_nothing_to_do_are_accepted() -> None:
    opts = sacct.parse_args(["-D", "-v", "--federation", "--local", "--use-local-uid"],
                            environ={})
    assert opts.clusters is None and not opts.no_steps
