"""The SWF reader: header, field mapping, and lines it skips (counted, never guessed)."""

from __future__ import annotations

import gzip
from pathlib import Path

from corral.sim.swf import read_lines, read_trace
from corral.sim.workload import from_trace

HEADER = """\
; Version: 2.2
; Computer: test machine
; MaxNodes: 4
; MaxProcs: 8
; Queue: 1 express
; Partition: 2 pbatch
;
"""


def line(number: int, submit: int, run: int, procs: int, req_time: int, *, req_procs: int = -1,
         user: int = 3, group: int = 7, queue: int = -1, partition: int = -1) -> str:
    fields = [number, submit, -1, run, procs, -1, -1, req_procs, req_time, -1, 1, user, group,
              -1, queue, partition, -1, -1]
    return " ".join(str(f) for f in fields)


def test_header_fields_and_jobs_are_read() -> None:
    trace = read_lines((HEADER + "\n".join([
        line(2, 50, 30, 4, 600, queue=1),
        line(1, 10, 100, 2, 120, partition=2),
    ])).splitlines())
    assert trace.header_int("MaxProcs") == 8 and trace.header_int("MaxNodes") == 4
    assert trace.header["computer"] == "test machine"
    assert trace.queues == {1: "express"} and trace.partitions == {2: "pbatch"}
    assert [(j.number, j.submit, j.run, j.procs, j.requested_time) for j in trace.jobs] == [
        (1, 10, 100, 2, 120), (2, 50, 30, 4, 600)]  # sorted by submit time
    assert trace.jobs[0].user == 3 and trace.jobs[0].group == 7 and trace.jobs[0].partition == 2
    assert not trace.skipped


def test_malformed_and_unusable_lines_are_skipped_and_counted_by_reason() -> None:
    body = [
        line(1, 0, 100, 2, 600),
        "2 10 -1 100 2 -1 -1 2 600 -1 1 3 7 -1 -1 -1 -1",  # 17 fields
        "3 10 -1 abc 2 -1 -1 2 600 -1 1 3 7 -1 -1 -1 -1 -1",  # not a number
        line(4, 20, -1, 2, 600),  # run time unknown
        line(5, 30, 100, 0, 600),  # no processors at all
        line(6, 40, 100, -1, 600, req_procs=3),  # allocated unknown: the request is used
        line(7, -1, 100, 2, 600),  # submit time unknown
        line(8, 50, 0, 1, -1),  # runtime 0 is legal, requested time may be missing
    ]
    trace = read_lines((HEADER + "\n".join(body) + "\n\n").splitlines())
    assert [j.number for j in trace.jobs] == [1, 6, 8]
    assert trace.jobs[1].procs == 3 and trace.jobs[2].requested_time is None
    assert dict(trace.skipped) == {
        "malformed: 17 fields instead of 18": 1,
        "malformed: a field is not a number": 1,
        "unknown (negative) run time": 1,
        "no processor count": 1,
        "unknown submit time": 1,
    }
    header_lines = HEADER.count("\n")
    assert trace.first_skipped_line["no processor count"] == header_lines + 5


def test_gzip_is_recognised_by_content(tmp_path: Path) -> None:
    text = HEADER + line(1, 0, 10, 1, 60) + "\n"
    packed = tmp_path / "trace.swf"  # no .gz suffix: the magic bytes decide
    packed.write_bytes(gzip.compress(text.encode()))
    plain = tmp_path / "plain.swf"
    plain.write_text(text)
    assert [j.number for j in read_trace(packed).jobs] == [1]
    assert [j.number for j in read_trace(plain).jobs] == [1]


def test_jobs_map_to_requests_on_the_headers_machine() -> None:
    trace = read_lines((HEADER + "\n".join([
        line(1, 0, 100, 4, 90),  # 4 procs on 2-core nodes: 2 whole nodes; 90 s → 2 min
        line(2, 0, 100, 3, -1),  # 3 procs: 2 nodes of 2 tasks; no request: its run time
        line(3, 0, 100, 9, 60),  # more processors than the machine has
    ])).splitlines())
    workload = from_trace(trace)
    assert len(workload.machine.nodes) == 4 and workload.machine.total_cpus == 8
    first, second = workload.requests
    assert (first.job.spec.num_nodes, first.job.spec.cpus_per_node(), first.job.time_limit) == (
        2, 2, 2)
    assert (second.job.spec.num_nodes, second.job.spec.cpus_per_node(),
            second.job.time_limit) == (2, 2, 2)
    assert first.user == "user3" and first.account == "group7"
    assert sum(workload.skipped.values()) == 1
    assert "never starts on this machine" in next(iter(workload.skipped))
    assert any("no requested time" in n for n in workload.notes)


def test_command_line_shape_overrides_the_header() -> None:
    trace = read_lines((HEADER + line(1, 0, 10, 6, 60)).splitlines())
    workload = from_trace(trace, nodes=2, cpus_per_node=6)
    assert [n.cpus for n in workload.machine.nodes] == [6, 6]
    assert workload.requests[0].job.spec.num_nodes == 1


def test_trace_partitions_map_onto_the_configs(tmp_path: Path) -> None:
    config = tmp_path / "cluster.toml"
    config.write_text("""
[[partitions]]
name = "pbatch"
nodes = "ALL"
default = true

[[partitions]]
name = "pdebug"
nodes = "node[0001-0002]"
max_time = "30"
""")
    trace = read_lines((HEADER + "\n".join([
        line(1, 0, 100, 2, 600, partition=2),  # pbatch
        line(2, 0, 100, 2, 600, partition=1),  # not in the config: the default partition
        line(3, 0, 100, 2, 600, partition=3),  # unnamed in the header ("p3"): the default
    ])).splitlines())
    trace.partitions[1] = "pdebug"
    trace.jobs.append(trace.jobs[1].__class__(4, 5, 100, 2, 3600, 3, 7, None, 1, 1))
    from corral.settings import load_cluster_config

    parts = load_cluster_config(config)["partitions"]
    workload = from_trace(trace, partitions=parts)
    assert [n.name for n in workload.machine.nodes] == [
        "node0001", "node0002", "node0003", "node0004"]
    assert [r.job.partition for r in workload.requests] == ["pbatch", "pdebug", "pbatch"]
    # An hour in a 30-minute partition would wait for ever: skipped, and said why.
    assert dict(workload.skipped) == {"never starts on this machine (PartitionTimeLimit)": 1}
