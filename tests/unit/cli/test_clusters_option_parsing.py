"""-M/--clusters, one check for every command: this cluster's name or `all` is taken in,
another name stops the command in Slurm's words (print_db_notok); sbatch names the cluster."""

from __future__ import annotations

import pytest

from corral.cli.common import clusters
from corral.cli.common.runner import CommandError
from corral.cli.slurm import squeue
from corral.cli.slurm.sbatch import submitted


class FakeClient:
    def __init__(self, name: str | None) -> None:
        self.name = name

    def config(self) -> dict[str, str | None]:
        return {"ClusterName": self.name}


@pytest.mark.parametrize("names", ["corral", "Corral", "all", "ALL", "other,corral"])
def test_this_cluster_or_all_is_taken_in(names: str) -> None:
    assert clusters.check(FakeClient("corral"), names) == "corral"  # type: ignore[arg-type]


def test_the_configured_name_is_the_one_checked() -> None:
    assert clusters.check(FakeClient("Lab"), "lab") == "lab"  # type: ignore[arg-type]
    with pytest.raises(CommandError):
        clusters.check(FakeClient("Lab"), "corral")  # type: ignore[arg-type]


def test_another_cluster_gets_slurms_words() -> None:
    with pytest.raises(CommandError) as caught:
        clusters.check(FakeClient("corral"), "elsewhere,far")  # type: ignore[arg-type]
    assert caught.value.message == (
        "'elsewhere,far' can't be reached now, or it is an invalid entry for --cluster.  "
        "Use 'sacctmgr list clusters' to see available clusters.")


@pytest.mark.parametrize("parsable, cluster, line", [
    (False, None, "Submitted batch job 7"), (True, None, "7"),
    (False, "corral", "Submitted batch job 7 on cluster corral"), (True, "corral", "7;corral"),
])
def test_sbatch_names_the_cluster_when_asked_for_one(parsable: bool, cluster: str | None,
                                                      line: str) -> None:
    assert submitted(7, parsable, cluster) == line


def test_squeue_reads_clusters() -> None:
    assert squeue.parse_request(["-M", "all"], environ={}).clusters == "all"
    assert squeue.parse_request(["--clusters=corral"], environ={}).clusters == "corral"
