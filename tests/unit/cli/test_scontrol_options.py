"""scontrol's global options: -M names this cluster or fails in Slurm's words, the options
with nothing to do are accepted, the others refused by name."""

from __future__ import annotations

import io
from typing import Any

import pytest

from corral.cli.common.runner import CommandError
from corral.cli.slurm import scontrol


class ConfigClient:
    address = "http://ctl:6817"

    def config(self) -> dict[str, Any]:
        return {"ClusterName": "corral"}


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = scontrol.Scontrol(ConfigClient(), scontrol.parse_args(argv), out,  # type: ignore[arg-type]
                             io.StringIO()).run()
    return code, out.getvalue()


@pytest.mark.parametrize("cluster", ["corral", "Corral", "all"])
def test_clusters_naming_this_one_go_on(cluster: str) -> None:
    assert run("-M", cluster, "version") == (0, "slurm-wlm 22.05.8\n")


def test_another_cluster_is_refused_in_slurms_words() -> None:
    with pytest.raises(CommandError) as stop:
        run("--clusters=elsewhere", "show", "partition")
    assert stop.value.message == (
        "'elsewhere' can't be reached now, or it is an invalid entry for --cluster.  "
        "Use 'sacctmgr list clusters' to see available clusters.")


def test_options_with_nothing_to_do_are_accepted() -> None:
    inv = scontrol.parse_args(["-a", "-d", "-F", "--hide", "--local", "--sibling",
                               "--federation", "-v", "show", "config"])
    assert inv.words == ["show", "config"]


@pytest.mark.parametrize("name", sorted(scontrol.REFUSED))
def test_each_refused_option_is_refused_by_name(name: str) -> None:
    option = next(o for o in scontrol.OPTIONS if o.long == name)
    with pytest.raises(CommandError) as stop:
        scontrol.parse_args([f"--{name}=1" if option.takes_value else f"--{name}", "show", "job"])
    assert stop.value.message == f"--{name}: option not supported by corral"
