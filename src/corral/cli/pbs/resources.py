"""qsub's -l resource lists → corral request fields: PBS Pro's `select=`/`place=` chunks and
job-wide resources, Torque's `nodes=N:ppn=M`, with PBS's wording for values it refuses.

corral allocates whole nodes' shares, so each `select` chunk gets a node of its own (PBS's
place=scatter; under PBS's default place=free chunks may also share a host), and place=pack
puts all chunks on one node. Chunks of different shapes get the largest of each resource.
Limits corral does not enforce (cput, vmem) are checked and accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

RESOURCE_ERROR = "Illegal attribute or resource value"

# Resources of the whole job, and those PBS Pro counts per host (they go into a select
# chunk, so they cannot also be given beside one).
_JOB_WIDE = frozenset({"walltime", "cput", "select", "place", "nodes", "procs"})
_HOST_LEVEL = frozenset({"ncpus", "mem", "ngpus", "vmem", "host", "mpiprocs", "ompthreads"})
_CHUNK = frozenset({"ncpus", "mem", "ngpus", "vmem", "host", "vnode", "mpiprocs", "ompthreads"})
_PLACE_WORDS = frozenset({"free", "pack", "scatter", "vscatter", "excl", "exclhost", "shared"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HOST = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")
_DURATION = re.compile(r"(?:(?:([0-9]+):)?([0-9]+):)?([0-9]+)(?:\.[0-9]*)?")
_SIZE = re.compile(r"([0-9]+)([kmgtp]?)([bw]?)", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def parse_resource_list(text: str) -> dict[str, str]:
    """`name=value[,name=value...]`; ValueError when qsub would say `illegal -l value`."""
    resources: dict[str, str] = {}
    for item in text.split(","):
        name, eq, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not eq or not value or not _NAME.fullmatch(name):
            raise ValueError(text)
        resources[name] = value
    return resources


def _bad(name: str) -> ValueError:
    return ValueError(f"{RESOURCE_ERROR} Resource_List.{name}")


def parse_duration(text: str) -> int:
    """PBS time: `[[hours:]minutes:]seconds[.fraction]` → whole seconds."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(text)
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def parse_size_mb(text: str) -> int:
    """PBS size: `N[k|m|g|t|p][b|w]` (bytes, or 8-byte words; no suffix is bytes) → MiB, up."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(text)
    count = int(match.group(1)) * 1024 ** _POWERS[match.group(2).lower()]
    if match.group(3).lower() == "w":
        count *= 8
    return -(-count // 1024 ** 2)


def _count(value: str, name: str) -> int:
    if not value.isdigit():
        raise _bad(name)
    return int(value)


def _chunks(text: str) -> list[tuple[int, dict[str, str]]]:
    """`2:ncpus=4:mem=2gb+1:ngpus=1` → [(2, {...}), (1, {...})]."""
    chunks = []
    for spec in text.split("+"):
        parts = spec.split(":")
        count = 1
        if parts[0].isdigit():
            count = int(parts.pop(0))
        if count < 1 or not spec:
            raise _bad("select")
        chunk: dict[str, str] = {}
        for part in parts:
            name, eq, value = part.partition("=")
            if not eq or not value:
                raise _bad("select")
            if name not in _CHUNK:
                raise ValueError(f"Unknown resource Resource_List.{name}")
            chunk[name] = value
        chunks.append((count, chunk))
    return chunks


def _place(text: str) -> tuple[bool, bool]:
    """(pack, exclusive) of `place=[arrangement][:sharing][:group=resource]`."""
    words = text.split(":")
    if not all(w in _PLACE_WORDS or (w.startswith("group=") and len(w) > 6) for w in words):
        raise _bad("place")
    return "pack" in words, "excl" in words or "exclhost" in words


def _apply_chunks(chunks: list[tuple[int, dict[str, str]]], place: str,
                  request: dict[str, Any], resource: str) -> None:
    pack, exclusive = _place(place)
    total = sum(count for count, _ in chunks)
    ncpus = mpiprocs = mem = gpus = 0
    hosts: list[str] = []
    for _, chunk in chunks:
        cpus = _count(chunk.get("ncpus", "1"), resource)
        ncpus = max(ncpus, cpus)
        # PBS gives a chunk one MPI process unless told otherwise (none when it has no CPU).
        mpiprocs = max(mpiprocs, _count(chunk.get("mpiprocs", "1" if cpus else "0"), resource))
        gpus = max(gpus, _count(chunk.get("ngpus", "0"), resource))
        if "ompthreads" in chunk:
            _count(chunk["ompthreads"], resource)
        for key in ("mem", "vmem"):
            if key in chunk:
                try:
                    size = parse_size_mb(chunk[key])
                except ValueError:
                    raise _bad(resource) from None
                if key == "mem":
                    mem = max(mem, size)
        for key in ("host", "vnode"):
            if key in chunk:
                if not _HOST.fullmatch(chunk[key]):
                    raise _bad(resource)
                hosts.append(chunk[key])
    nodes, per_node = (1, total) if pack else (total, 1)
    tasks_per_node = max(1, mpiprocs) * per_node
    request["num_nodes"] = nodes
    request["num_tasks"] = nodes * tasks_per_node
    request["cpus_per_task"] = max(1, -(-ncpus // max(1, mpiprocs)))
    if nodes > 1:
        request["ntasks_per_node"] = tasks_per_node
    if mem:
        request["mem_per_node"] = mem * per_node
    if gpus:
        request["gpus_per_node"] = gpus * per_node
    if hosts:
        request["req_nodes"] = list(dict.fromkeys(hosts))
    if exclusive:
        request["exclusive"] = True


def _torque_nodes(text: str, request: dict[str, Any]) -> None:
    """Torque's `nodes=N[:ppn=M][:gpus=G][:feature...]` or `host[:ppn=M]+host...`."""
    count, ppn, gpus = 0, 1, 0
    hosts: list[str] = []
    features: list[str] = []
    for spec in text.split("+"):
        first, *props = spec.split(":")
        if first.isdigit() and int(first) >= 1:
            count += int(first)
        elif _HOST.fullmatch(first):
            hosts.append(first)
            count += 1
        else:
            raise _bad("nodes")
        for prop in props:
            key, eq, value = prop.partition("=")
            if key in ("ppn", "gpus") and eq and value.isdigit():
                if key == "ppn":
                    ppn = max(ppn, int(value))
                else:
                    gpus = max(gpus, int(value))
            elif not eq and _NAME.fullmatch(key):
                features.append(key)
            else:
                raise _bad("nodes")
    request["num_nodes"] = count
    request["num_tasks"] = count * ppn
    if count > 1:
        request["ntasks_per_node"] = ppn
    if gpus:
        request["gpus_per_node"] = gpus
    if hosts:
        request["req_nodes"] = hosts
    if features:
        request["constraint"] = "&".join(features)


def apply_resources(resources: Mapping[str, str], request: dict[str, Any]) -> None:
    """Sets the request's size and limits; ValueError carries PBS's message."""
    for name in resources:
        if name not in _JOB_WIDE and name not in _HOST_LEVEL:
            raise ValueError(f"Unknown resource Resource_List.{name}")
    chunked = "select" in resources or "place" in resources
    if chunked:
        for name in resources:
            if name in _HOST_LEVEL or name in ("nodes", "procs"):
                raise ValueError('"-lresource=" cannot be used with "select" or "place", '
                                 f"resource is: {name}")
    for name in ("walltime", "cput"):
        if name in resources:
            try:
                seconds = parse_duration(resources[name])
            except ValueError:
                raise _bad(name) from None
            if name == "walltime":
                # corral's limits are whole minutes: round up, never to "no limit".
                request["time_limit"] = max(1, -(-seconds // 60))
    if chunked:
        _apply_chunks(_chunks(resources.get("select", "1")), resources.get("place", "free"),
                      request, "select" if "select" in resources else "place")
        return
    if "nodes" in resources:
        _torque_nodes(resources["nodes"], request)
    if "procs" in resources:
        request["num_tasks"] = _count(resources["procs"], "procs") or 1
    # PBS Pro turns job-wide host resources into one chunk (`-l ncpus=4` is select=1:ncpus=4).
    host_level = {k: v for k, v in resources.items() if k in _HOST_LEVEL}
    if not host_level:
        return
    if "nodes" not in resources and "procs" not in resources:
        for name, value in host_level.items():
            _apply_chunks([(1, {name: value})], "free", {}, name)  # names the bad one
        _apply_chunks([(1, host_level)], "free", request, "select")
        return
    nodes = request.get("num_nodes", 1)
    if "mem" in host_level:
        try:
            request["mem_per_node"] = -(-parse_size_mb(host_level["mem"]) // nodes)
        except ValueError:
            raise _bad("mem") from None
    if "ncpus" in host_level:
        request["cpus_per_task"] = max(1, _count(host_level["ncpus"], "ncpus"))
    if "ngpus" in host_level:
        request["gpus_per_node"] = _count(host_level["ngpus"], "ngpus")
