"""sprio's layouts, reproduced from /priorities replies (no controller)."""

from __future__ import annotations

from typing import Any

import pytest

from corral.cli.common.getopt import OptionError
from corral.cli.common.runner import CommandError
from corral.cli.slurm import sprio

WEIGHTS = {"age": 1000, "fairshare": 10000, "jobsize": 500, "partition": 1000, "qos": 2000}


def job(job_id: int, user: str, partition: str, priority: int, age: float, fairshare: float,
        job_size: float, part: float, qos: float, nice: int = 0) -> dict[str, Any]:
    return {"job_id": job_id, "user": user, "account": "physics", "partition": partition,
            "qos": "normal", "priority": priority, "age": age, "fairshare": fairshare,
            "job_size": job_size, "partition_factor": part, "qos_factor": qos, "nice": nice}


JOBS = [
    job(12, "bob", "debug", 7512, 0.25, 0.7, 0.0125, 0.25, 0.0),
    job(11, "alice", "batch", 11756, 1.0, 0.9375, 0.5, 0.1, 0.5, nice=-5),
]


def run(*argv: str, weights: dict[str, int] | None = None,
        jobs: list[dict[str, Any]] | None = None, users: set[str] | None = None,
        environ: dict[str, str] | None = None) -> list[str]:
    req = sprio.parse_request(list(argv), environ={} if environ is None else environ)
    reply = {"type": "multifactor", "weights": WEIGHTS if weights is None else weights,
             "jobs": JOBS if jobs is None else jobs}
    return sprio.listing(req, reply, users)


def test_default_layout_weighs_each_factor_in_job_id_order() -> None:
    assert run() == [
        "          JOBID PARTITION   PRIORITY       SITE        AGE  FAIRSHARE    JOBSIZE  PARTITION"
        "        QOS",
        "             11 batch          11756          0       1000       9375        250        100"
        "       1000",
        "             12 debug           7512          0        250       7000          6        250"
        "          0",
    ]


def test_factors_without_a_weight_have_no_column() -> None:
    out = run(weights={**WEIGHTS, "jobsize": 0, "qos": 0})
    assert out[0] == ("          JOBID PARTITION   PRIORITY       SITE        AGE  FAIRSHARE"
                      "  PARTITION")
    assert run("-u", "alice", weights={"age": 1}, users={"alice"}) == [
        "          JOBID PARTITION     USER   PRIORITY       SITE        AGE",
        "             11 batch        alice      11756          0          1",
    ]


def test_normalized_factors_are_left_justified() -> None:
    assert run("-n") == [
        "          JOBID PARTITION PRIORITY   AGE        FAIRSHARE  JOBSIZE    PARTITION  QOS       ",
        "             11 batch     0.00000273 1.0000000  0.9375000  0.5000000  0.1000000  0.5000000 ",
        "             12 debug     0.00000174 0.2500000  0.7000000  0.0125000  0.2500000  0.0000000 ",
    ]


def test_weights_line() -> None:
    assert run("-w", "-h") == [
        "        Weights                               1       1000      10000        500       1000"
        "       2000"]


def test_long_layout_is_fixed() -> None:
    out = run("-l", weights={"age": 1000})
    assert out[0] == (
        "          JOBID PARTITION     USER   PRIORITY       SITE        AGE      ASSOC  FAIRSHARE"
        "    JOBSIZE  PARTITION        QOS        NICE                 TRES")
    assert out[1] == (
        "             11 batch        alice      11756          0       1000          0          0"
        "          0          0          0          -5                     ")
    assert run("-l", "-n", "-h", weights={"age": 1000})[0] == (
        "             11 batch        alice 0.00000273 1.0000000  0.0000000  0.0000000  0.0000000"
        "  0.0000000  0.0000000                      ")


def test_format_codes_and_unknown_ones_are_dropped(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("-o", "id=%i|%r|%u|%o|%n|%Y|%y|%A|%a|%N|%z", "-j", "11", jobs=JOBS[1:]) == [
        "id=JOBID|PARTITION|USER|ACCOUNT|QOSNAME|PRIORITY|PRIORITY|AGE|AGE|NICE|",
        "id=11|batch|alice|physics|normal|11756|0.00000273715705|1000|1.0000000|-5|",
    ]
    assert capsys.readouterr().err == "sprio: error: Invalid job format specification: z\n"
    assert run(environ={"SPRIO_FORMAT": "%i"})[1:] == ["11", "12"]
    assert run("-l", environ={"SPRIO_FORMAT": "%i"})[0].startswith("          JOBID PARTITION")


def test_sort_keys() -> None:
    assert [line.split()[0] for line in run("-h", "-S", "-Y")] == ["11", "12"]
    assert [line.split()[0] for line in run("-h", "-S", "r,-i")] == ["11", "12"]
    assert [line.split()[0] for line in run("-h", "--sort=-r")] == ["12", "11"]
    with pytest.raises(CommandError, match="Invalid sort specification: x"):
        run("-S", "x")


def test_asked_for_jobs_that_are_not_pending() -> None:
    assert run("-j", "99", jobs=[]) == ["Unable to find jobs matching user/id(s) specified"]
    assert run(jobs=[]) == [run()[0]]
    assert run("-h", jobs=[]) == []


def test_basic_priority_is_refused_with_slurms_words() -> None:
    assert sprio.refusal({"type": "basic"}) == (
        "You are not running a supported priority plugin\n(priority/basic).\n"
        "Only 'priority/multifactor' is supported.\n")
    assert sprio.refusal({"type": "multifactor"}) is None


def test_options() -> None:
    assert sprio.parse_request(["-j", "12,13"], environ={}).jobs == ["12", "13"]
    assert sprio.parse_request(["-j12"], environ={}).jobs == ["12"]
    assert sprio.parse_request(["--jobs", "12"], environ={}).jobs == ["12"]
    assert sprio.parse_request(["--users=a,b"], environ={}).users == ["a", "b"]
    assert sprio.parse_request(["--usage"], environ={}).show == "usage"
    with pytest.raises(CommandError, match="Invalid job id: 1x"):
        sprio.parse_request(["-j", "1x"], environ={})
    with pytest.raises(CommandError, match="Unrecognized option: extra"):
        sprio.parse_request(["extra"], environ={})
    with pytest.raises(OptionError, match="sprio: invalid option -- 'z'"):
        sprio.parse_request(["-z"], environ={})
