"""qsub/qstat/qdel and bsub/bjobs/bkill: each refused option is refused by name, in the
command's wording, with a non-zero exit and before anything reaches the controller; the
options that stay accepted do what docs/options.md says (no controller)."""

from __future__ import annotations

from typing import Any

import pytest

from corral.cli.lsf import bjobs, bkill, bsub
from corral.cli.lsf import options as lsf_options
from corral.cli.lsf.bjobs import Request, parse_request, select
from corral.cli.pbs import options as pbs_options
from corral.cli.pbs import qdel, qstat, qstat_format, qsub
from corral.cli.pbs.options import PbsError, build_request, merge, parse_command_line
from corral.cli.pbs.options import parse_directives as pbs_directives


class Untouched:
    """A client no refused command may use: any call fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a refused command reached the controller ({name})")

    def close(self) -> None:
        pass


def argv_for(name: str, takes_value: bool) -> list[str]:
    return [f"-{name}", "1"] if takes_value else [f"-{name}"]


# -- PBS ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("letter", sorted(pbs_options.QSUB_REFUSED))
def test_qsub_refuses_by_name_with_usage_and_queues_nothing(
        letter: str, capsys: pytest.CaptureFixture[str]) -> None:
    takes = pbs_options.QSUB_SPEC[pbs_options.QSUB_SPEC.index(letter) + 1:][:1] == ":"
    code = qsub._body(Untouched(), [*argv_for(letter, takes), "job.sh"])  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"qsub: -{letter}: option not supported by corral\nusage: qsub")


def test_a_refused_qsub_option_in_a_directive_names_the_directive() -> None:
    with pytest.raises(PbsError) as caught:
        pbs_directives("#!/bin/sh\n#PBS -R oe\necho\n", "#PBS")
    assert caught.value.lines == ("-R: option not supported by corral", "directive error: -R oe ")
    assert caught.value.code == 1


def request(argv: list[str]) -> dict[str, Any]:
    opts = merge(pbs_options.Options(), parse_command_line(argv)[0])
    return build_request(opts, script="#!/bin/sh\n", name="job.sh", cwd="/home/u", environ={},
                         host="login1", system="Linux", queue="main", now=0.0)


@pytest.mark.parametrize("argv", [["-c", "n"], ["-c", "u"], ["-k", "n"], ["-k", "d"],
                                  ["-k", "doe"], ["-f"], ["-p", "-5"]])
def test_qsub_values_that_mean_what_corral_does_are_taken_and_change_nothing(
        argv: list[str]) -> None:
    assert request(argv) == request([])


@pytest.mark.parametrize("argv, line", [
    (["-c", "w=10"], "-c w=10: not supported by corral (it accepts n, u)"),
    (["-k", "oe"], "-k oe: not supported by corral (it accepts n, d, od, ed, oed)"),
    (["-W", "umask=022"], "-W umask: not supported by corral"),
    (["-W", "stagein=a@h:b"], "-W stagein: not supported by corral"),
    (["-W", "depend=beforeok:12"], "-W depend=beforeok: not supported by corral"),
])
def test_qsub_refuses_values_and_attributes_it_cannot_honour(argv: list[str], line: str) -> None:
    with pytest.raises(PbsError) as caught:
        request(argv)
    assert caught.value.lines == (line,)
    assert caught.value.code == 2


def test_qsub_project_is_the_jobs_wckey_and_qstat_shows_it() -> None:
    assert request(["-P", "climate"])["wckey"] == "climate"
    assert "wckey" not in request([])


@pytest.mark.parametrize("letter", sorted(qstat.REFUSED))
def test_qstat_refuses_by_name(letter: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert qstat._body(Untouched(), [f"-{letter}"]) == 2  # type: ignore[arg-type]
    assert capsys.readouterr().err.startswith(
        f"qstat: -{letter}: option not supported by corral\nusage: ")


def test_qstat_takes_every_other_option_of_its_reference() -> None:
    refused = set()
    for letter in qstat.SPEC.replace(":", ""):
        takes = qstat.SPEC[qstat.SPEC.index(letter) + 1:][:1] == ":"
        argv = [f"-{letter}", "json" if letter == "F" else "x"] if takes else [f"-{letter}"]
        try:
            qstat.parse([*argv, "-f"] if letter == "F" else argv)
        except pbs_options.OptionProblem as exc:
            assert str(exc) == f"qstat: -{letter}: option not supported by corral"
            refused.add(letter)
    assert refused == qstat.REFUSED


def running(job_id: int) -> dict[str, Any]:
    return {"job_id": job_id, "name": "run", "user": "alice", "partition": "main", "state": "RUNNING",
           "reason": "None", "held": False, "num_nodes": 2, "num_cpus": 4, "num_tasks": 2,
           "mem_per_node": 0, "gpus_per_node": 0, "time_limit": 60, "submit_time": 0.0,
           "start_time": 0.0, "end_time": None, "nodes": ["node1", "node2"],
           "array_job_id": None, "array_task_id": None, "array_task_string": None}


def alt_lines(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[str]:
    printer = qstat.Printer(qstat.parse(argv), "head", 60.0)
    printer.print(qstat_format.group([running(7)], subjobs=False))
    return capsys.readouterr().out.splitlines()


def test_qstat_n1_puts_the_exec_host_on_the_jobs_line(capsys: pytest.CaptureFixture[str]) -> None:
    apart = alt_lines(["-n"], capsys)
    together = alt_lines(["-n", "-1"], capsys)
    assert apart[-1] == "   node1/0*2+node2/0*2"
    assert together[:-1] == apart[:-2]
    assert together[-1] == apart[-2] + " node1/0*2+node2/0*2"


class Jobs:
    """The controller's answers qstat needs for jobs asked for by id."""

    def ping(self) -> dict[str, str]:
        return {"controller": "head"}

    def jobs(self, job_ids: list[str], **_: Any) -> list[dict[str, Any]]:
        return [running(int(i)) for i in job_ids]

    def history(self, **_: Any) -> list[dict[str, Any]]:
        return []


@pytest.mark.parametrize("argv, order", [([], ["12", "3"]), (["-E"], ["3", "12"])])
def test_qstat_e_shows_job_ids_in_ascending_order(
        argv: list[str], order: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert qstat._body(Jobs(), [*argv, "12", "3.head"]) == 0  # type: ignore[arg-type]
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [r.split(".")[0] for r in rows] == order


def test_qdel_checks_w_and_changes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert qdel._body(Untouched(), ["-W", "sometimes", "12"]) == 2  # type: ignore[arg-type]
    assert "qdel: illegal -W value" in capsys.readouterr().err


# -- LSF ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(lsf_options.BSUB_UNSUPPORTED))
def test_bsub_refuses_by_name_and_submits_nothing(
        name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(bsub.Client, "from_env", classmethod(lambda cls: Untouched()))
    code = bsub.main([*argv_for(name, lsf_options.BSUB_UNSUPPORTED[name]), "true"])
    assert code == 255
    assert capsys.readouterr().err == (f"-{name}: option not supported by corral. "
                                       "Job not submitted.\n")


def test_a_refused_bsub_option_in_a_bsub_line_is_refused_too(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\n#BSUB -ptl 10\necho hi\n")
    monkeypatch.setattr(bsub.Client, "from_env", classmethod(lambda cls: Untouched()))
    assert bsub.main([str(script)]) == 255
    assert capsys.readouterr().err == "-ptl: option not supported by corral. Job not submitted.\n"


def test_bsub_tty_changes_nothing() -> None:
    found, _ = lsf_options.parse_args("bsub", ["-tty", "-n", "2", "x"],
                                      {**lsf_options.BSUB_OPTIONS, **lsf_options.BSUB_UNSUPPORTED})
    lsf_options.check_supported(found)
    assert ("tty", None) in found


@pytest.mark.parametrize("module, name", [
    *[(bjobs, n) for n in sorted(bjobs.REFUSED)], *[(bkill, n) for n in sorted(bkill.REFUSED)]])
def test_bjobs_and_bkill_refuse_by_name(module: Any, name: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*argv_for(name, module.REFUSED[name]), "12"]
    assert module._body(Untouched(), argv) == 255
    assert capsys.readouterr().err == f"-{name}: option not supported by corral\n"


def job(job_id: int, account: str) -> dict[str, Any]:
    return {"job_id": job_id, "state": "PENDING", "name": "j", "user": "u", "account": account,
            "partition": "main", "submit_time": 0.0}


def test_bjobs_project_selects_the_accounts_jobs_and_x_changes_nothing() -> None:
    req = parse_request(["-P", "climate", "-X"])
    rows = select([job(1, "climate"), job(2, "other")], req, None)
    assert [r.job_id for r in rows] == [1]
    assert isinstance(req, Request) and "X" in req.flags
