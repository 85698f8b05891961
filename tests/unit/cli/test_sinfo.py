"""sinfo's output, reproduced from node/partition records shaped like docs/spec/03-rest-api.md."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from corral.cli.common.getopt import OptionError
from corral.cli.slurm import sinfo
from corral.cli.slurm import sinfo_format as sif

UTC = dt.UTC
NOW = 1795352998.0  # Sun Nov 22 13:09:58 2026 UTC


def node(name: str, state: str = "IDLE", **fields: Any) -> dict[str, Any]:
    """A node record as GET /api/v1/nodes returns it."""
    record: dict[str, Any] = {
        "name": name, "state": state, "reason": None, "cpus": 2, "memory": 24105, "gpus": 0,
        "gpu_type": None, "alloc_cpus": 2 if state in ("ALLOCATED", "DRAINING") else 0,
        "alloc_memory": 0, "alloc_gpus": 0, "free_memory": 23757, "cpu_load": 0.0,
        "partitions": ["debug"], "addr": "127.0.0.1", "hostname": name, "arch": "x86_64",
        "os": "Linux", "version": "0.1.0", "boot_time": 1795000000.0,
        "agent_start_time": 1795000100.0, "features": [], "sockets": 1, "cores_per_socket": 2,
        "threads_per_core": 1, "responding": True,
    }
    record.update(fields)
    return record


def partition(name: str, nodes: list[str], **fields: Any) -> dict[str, Any]:
    """A partition record as GET /api/v1/partitions returns it."""
    record: dict[str, Any] = {
        "name": name, "default": False, "nodes": nodes, "max_time": None, "default_time": None,
        "max_nodes": None, "state": "UP", "total_cpus": 2 * len(nodes),
        "total_nodes": len(nodes)}
    record.update(fields)
    return record


REF_NODES = [node("vm", "ALLOCATED")]
REF_PARTS = [partition("debug", ["vm"], default=True)]


def run(*argv: str, nodes: list[dict[str, Any]] | None = None,
        parts: list[dict[str, Any]] | None = None) -> list[str]:
    req = sinfo.parse_request(list(argv), environ={})
    return sinfo.listing(req, REF_NODES if nodes is None else nodes,
                         REF_PARTS if parts is None else parts, NOW, tz=UTC)


def test_default_matches_10() -> None:
    assert run() == [
        "PARTITION AVAIL  TIMELIMIT  NODES  STATE NODELIST",
        "debug*       up   infinite      1  alloc vm",
    ]


def test_format_codes_match_10() -> None:
    assert run("-h", "-o", "%P %a %l %D %t %N %c %m") == ["debug* up infinite 1 alloc vm 2 24105"]


def test_node_long_matches_11() -> None:
    assert run("-N", "-l") == [
        "Sun Nov 22 13:09:58 2026",
        ("NODELIST   NODES PARTITION       STATE CPUS    S:C:T MEMORY TMP_DISK WEIGHT AVAIL_FE "
        "REASON              "),
        ("vm             1    debug*   allocated 2       1:2:1  24105        0      1   (null) "
        "none                "),
    ]


def cluster() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    nodes = [
        node("n1", "IDLE"), node("n2", "IDLE"), node("n3", "ALLOCATED"),
        node("n4", "MIXED", alloc_cpus=1), node("n5", "DOWN", responding=False, reason="dead"),
        node("n6", "DRAINED", reason="maintenance", reason_uid=0,
             reason_time=NOW - 60),
        node("n10", "IDLE", partitions=["debug", "gpu"], gpus=2, gpu_type="a100"),
    ]
    parts = [
        partition("debug", ["n1", "n2", "n3", "n4", "n5", "n6", "n10"], default=True,
                  max_time=60),
        partition("long_partition_name", ["n10"], max_time=3 * 24 * 60 + 90),
        partition("empty", []),
    ]
    return nodes, parts


def test_partition_view_groups_by_state_in_slurm_order() -> None:
    nodes, parts = cluster()
    # Partition order, then Slurm's state numbers descending (flags such as not-responding and
    # drain rank above base states).
    assert run(nodes=nodes, parts=parts) == [
        "PARTITION           AVAIL  TIMELIMIT  NODES  STATE NODELIST",
        "debug*                 up    1:00:00      1  down* n5",
        "debug*                 up    1:00:00      1  drain n6",
        "debug*                 up    1:00:00      1    mix n4",
        "debug*                 up    1:00:00      1  alloc n3",
        "debug*                 up    1:00:00      3   idle n[1-2,10]",
        "long_partition_name    up 3-01:30:00      1   idle n10",
        "empty                  up   infinite      0    n/a ",
    ]
    assert run("-l", nodes=nodes, parts=parts)[:3] == [
        "Sun Nov 22 13:09:58 2026",
        ("PARTITION           AVAIL  TIMELIMIT   JOB_SIZE ROOT OVERSUBS     GROUPS  NODES       "
        "STATE NODELIST"),
        ("debug*                 up    1:00:00 1-infinite   no       NO        all      1       "
        "down* n5"),
    ]


def test_node_oriented_one_line_per_node_and_partition() -> None:
    nodes, parts = cluster()
    assert run("-N", nodes=nodes, parts=parts) == [
        "NODELIST   NODES           PARTITION STATE ",
        "n1             1              debug* idle  ",
        "n2             1              debug* idle  ",
        "n3             1              debug* alloc ",
        "n4             1              debug* mix   ",
        "n5             1              debug* down* ",
        "n6             1              debug* drain ",
        "n10            1              debug* idle  ",
        "n10            1 long_partition_name idle  ",
    ]


def test_summarize_cpus_gres_and_ranges() -> None:
    nodes, parts = cluster()
    out = run("-s", nodes=nodes, parts=parts[:1])
    assert out == ["PARTITION AVAIL  TIMELIMIT   NODES(A/I/O/T)  NODELIST",
                   "debug*       up    1:00:00          2/3/2/7  n[1-6,10]"]
    # A shown GRES splits nodes apart; CPUs are allocated/idle/other/total (down and drained
    # nodes' free CPUs count as other).
    out = run("-h", "-o", "%R|%C|%G|%c|%z|%O|%e|%s|%L|%A|%F", nodes=nodes, parts=parts)
    assert out == [
        "debug|3/5/4/12|(null)|2|1:2:1|0.00|23757|1-infinite|n/a|2/2|2/2/2/6",
        "debug|0/2/0/2|gpu:a100:2|2|1:2:1|0.00|23757|1-infinite|n/a|0/1|0/1/0/1",
        "long_partition_name|0/2/0/2|gpu:a100:2|2|1:2:1|0.00|23757|1-infinite|n/a|0/1|0/1/0/1",
        "empty|0/0/0/0|n/a|0|0:0:0|N/A|N/A|1-infinite|n/a|0/0|0/0/0/0",
    ]
    mixed = [node("a", cpus=4), node("b", cpus=8, cpu_load=1.5)]
    assert run("-h", "-o", "%c %O %D", nodes=mixed, parts=[partition("p", ["a", "b"])]) == [
        "4+ 0.00+ 2"]
    assert run("-h", "-e", "-o", "%c %D", nodes=mixed, parts=[partition("p", ["a", "b"])]) == [
        "4 1", "8 1"]


def test_list_reasons() -> None:
    nodes, parts = cluster()
    assert run("-R", nodes=nodes, parts=parts) == [
        "REASON               USER      TIMESTAMP           NODELIST",
        "dead                 Unknown   Unknown             n5",
        "maintenance          root      2026-11-22T13:08:58 n6",
    ]
    assert run("-R", "-l", "-h", nodes=nodes, parts=parts) == [
        "dead                 Unknown      Unknown             down*  n5",
        "maintenance          root(0)      2026-11-22T13:08:58 drain  n6",
    ]


def test_filters() -> None:
    nodes, parts = cluster()
    assert run("-h", "-p", "long_partition_name", "-o", "%P %N", nodes=nodes, parts=parts) == [
        "long_partition_name n10"]
    assert run("-h", "-t", "idle", "-o", "%R %D %N", nodes=nodes, parts=parts) == [
        "debug 3 n[1-2,10]", "long_partition_name 1 n10"]
    assert run("-h", "-n", "n[3-4]", "-o", "%N %T", nodes=nodes, parts=parts) == [
        "n4 mixed", "n3 allocated"]
    assert run("-h", "-d", "-o", "%N", nodes=nodes, parts=parts) == ["n5"]


def test_default_partition_star_truncation_and_dynamic_width() -> None:
    long_default = [partition("averyveryverylongname", ["vm"], default=True)]
    assert run("-h", "-o", "%5P|%P", parts=long_default) == ["aver*|averyveryverylongname*"]
    assert run(parts=long_default)[1].startswith("averyveryverylongname*    up")


def test_states_and_numbers() -> None:
    assert sif.state_text(node("a", "DRAINING"), compact=True) == "drng"
    assert sif.state_text(node("a", "DRAINED"), compact=False) == "drained"
    assert sif.state_text(node("a", "IDLE", responding=False), compact=True) == "idle*"
    assert sif.state_number(node("a", "MIXED")) > sif.state_number(node("a", "ALLOCATED"))


def test_options() -> None:
    assert sinfo.parse_request(["-V"], environ={}).show == "version"
    with pytest.raises(OptionError, match="sinfo: invalid option -- 'z'"):
        sinfo.parse_request(["-z"], environ={})
    env = sinfo.parse_request([], environ={"SINFO_FORMAT": "%N"})
    assert [f.key for f in env.layout.fields] == ["N"]


def test_long_format_takes_slurms_names_and_widths() -> None:
    assert run("-O", "Partition:10,NodeList,CPUs:.5,StateLong") == [
        "PARTITION " + "NODELIST".ljust(20) + " CPUS" + "STATE".ljust(20),
        "debug*    " + "vm".ljust(20) + "    2" + "allocated".ljust(20),
    ]
    assert run("-h", "--Format=nodehost:4,memory:.8") == ["vm     24105"]


def test_long_format_names_an_unknown_field() -> None:
    from corral.cli.common.runner import CommandError

    with pytest.raises(CommandError, match="Invalid node format specification: Bogus"):
        run("-O", "NodeList,Bogus")
