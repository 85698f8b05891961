"""sinfo: the cluster's partitions and nodes, printed as Slurm 22.05's sinfo prints them."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from corral.cli.common.getopt import Option, OptionError, parse
from corral.cli.common.runner import CommandError, run_command
from corral.cli.common.unsupported import first_refused
from corral.cli.slurm import sinfo_format as sif
from corral.client import Client
from corral.clock import system_clock
from corral.model.hostlist import expand

VERSION = "slurm-wlm 22.05.8"

OPTIONS: tuple[Option, ...] = (
    Option("all", "a", False), Option("dead", "d", False), Option("exact", "e", False),
    Option("noheader", "h", False), Option("iterate", "i"), Option("long", "l", False),
    Option("nodes", "n"), Option("Node", "N", False), Option("format", "o"),
    Option("Format", "O"),
    Option("partition", "p"), Option("responding", "r", False),
    Option("list-reasons", "R", False), Option("summarize", "s", False), Option("states", "t"),
    Option("verbose", "v", False), Option("version", "V", False), Option("help", None, False),
    Option("usage", None, False), Option("clusters", "M"),
    # Accepted with no effect (NO_EFFECT below).
    Option("federation", None, False), Option("local", None, False),
    Option("hide", None, False),
    # Refused by name (REFUSED below): the rest of sinfo(1)'s options.
    Option("json", None, False), Option("yaml", None, False), Option("noconvert", None, False),
    Option("sort", "S"), Option("reservation", "T", False),
)
# sinfo(1)'s options corral does not do: refused by name (cli/common/unsupported.py), never
# dropped; docs/options.md says why, option by option.
REFUSED = frozenset({"json", "yaml", "noconvert", "sort", "reservation"})
# Accepted with no effect: one cluster, not in a federation (--federation, --local), no
# hidden partition to hide (--hide is the default); --verbose only logs.
NO_EFFECT = frozenset({"federation", "local", "hide", "verbose"})
_KEYS = {"Node": "node", "list-reasons": "reasons"}

USAGE = """\
Usage: sinfo [-adelNRrsTv] [-i seconds] [-t states] [-p partition] [-n nodes]
             [-S fields] [-o format] [-O Format] [--federation] [--local] [--sibling]"""

HELP = """\
Usage: sinfo [OPTIONS]
  -a, --all                  show all partitions (including hidden and those
                             not accessible)
  -d, --dead                 show only non-responding nodes
  -e, --exact                group nodes only on exact match of configuration
  -h, --noheader             no headers on output
  -i, --iterate=seconds      specify an iteration period
  -l, --long                 long output - displays more information
  -n, --nodes=NODES          report on specific node(s)
  -N, --Node                 Node-centric format
  -o, --format=format        format specification
  -O, --Format=format        long format specification
  -p, --partition=PARTITION  report on specific partition
  -r, --responding           report only responding nodes
  -R, --list-reasons         list reason nodes are down or drained
  -s, --summarize            report state summary only
  -t, --states=node_state    specify the what states of nodes to view
  -v, --verbose              verbosity level
  -V, --version              output version information and exit

Help options:
  --help                     show this help message
  --usage                    display brief usage message"""

_REASON_STATES = ("down", "drain", "fail")


class Request:
    """What the command line asks for."""

    def __init__(self, layout: sif.Layout, *, noheader: bool = False, long: bool = False,
                 node_oriented: bool = False, exact: bool = False,
                 partitions: list[str] | None = None, dead: bool = False,
                 responding: bool = False) -> None:
        self.layout = layout
        self.noheader = noheader
        self.long = long
        self.node_oriented = node_oriented
        self.exact = exact
        self.partitions = partitions
        self.nodes: set[str] | None = None
        self.states: list[str] | None = None
        self.dead = dead
        self.responding = responding
        self.iterate = 0.0
        self.show: str | None = None
        self.clusters: str | None = None  # -M: checked, then each pass headed by its name


def parse_request(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Request:
    """Reads sinfo's options; raises OptionError (getopt's) or CommandError (sinfo's)."""
    env = os.environ if environ is None else environ
    found, operands = parse("sinfo", argv, OPTIONS, stop_at_positional=False)
    refused = first_refused(found, REFUSED)
    if refused is not None:
        raise CommandError(refused)
    flags: dict[str, str | None] = {}
    partitions: list[str] | None = None
    for name, value in found:
        key = _KEYS.get(name, name)
        if key == "partition":
            partitions = (partitions or []) + [p for p in (value or "").split(",") if p]
        else:
            flags[key] = value
    if operands:
        raise CommandError(f"Unrecognized option: {operands[0]}")
    long = "long" in flags
    node_oriented = "node" in flags
    if "Format" in flags:
        try:
            layout = sif.Layout(sif.parse_long(flags["Format"] or ""))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
    elif "format" in flags:
        layout = sif.Layout(sif.parse(flags["format"] or ""))
    elif "summarize" in flags:
        layout = sif.Layout(sif.parse(sif.SUMMARIZE_FORMAT), part_field=True)
    elif node_oriented:
        fmt = sif.NODE_LONG_FORMAT if long else sif.NODE_FORMAT
        layout = sif.Layout(sif.parse(fmt), part_field=True, node_field=True)
    elif "reasons" in flags:
        layout = sif.Layout(sif.parse(sif.REASONS_LONG_FORMAT if long else sif.REASONS_FORMAT))
    elif env.get("SINFO_FORMAT"):
        layout = sif.Layout(sif.parse(env["SINFO_FORMAT"]))
    else:
        layout = sif.Layout(sif.parse(sif.LONG_FORMAT if long else sif.DEFAULT_FORMAT),
                            part_field=True)
    req = Request(layout, noheader="noheader" in flags, long=long, node_oriented=node_oriented,
                  exact="exact" in flags, partitions=partitions, dead="dead" in flags,
                  responding="responding" in flags)
    req.clusters = flags.get("clusters")
    if "nodes" in flags:
        try:
            req.nodes = set(expand(flags["nodes"] or ""))
        except ValueError:
            raise CommandError(f"'{flags['nodes']}' invalid entry for --nodes") from None
    if "states" in flags:
        text = (flags["states"] or "").lower()
        req.states = None if text == "all" else [s for s in text.split(",") if s]
    elif "reasons" in flags:
        req.states = list(_REASON_STATES)
    if "iterate" in flags:
        try:
            req.iterate = float(flags["iterate"] or "")
        except ValueError:
            req.iterate = 0.0
        if req.iterate <= 0:
            raise CommandError(f"Error: invalid entry for --iterate={flags['iterate']}")
    for show in ("version", "help", "usage"):
        if show in flags:
            req.show = req.show or show
    return req


def _node_wanted(req: Request, node: Mapping[str, Any]) -> bool:
    if req.nodes is not None and node.get("name") not in req.nodes:
        return False
    if req.dead and node.get("responding", True) and sif.base_state(node) != "DOWN":
        return False
    if req.responding and node.get("responding") is False:
        return False
    if req.states:
        names = sif.state_names(node)
        if not any(n.startswith(want) for want in req.states for n in names):
            return False
    return True


def listing(req: Request, nodes: Sequence[Mapping[str, Any]],
            partitions: Sequence[Mapping[str, Any]], now: float, tz: Any = None) -> list[str]:
    """The lines one sinfo pass prints for the controller's node and partition records."""
    kept_nodes = [n for n in nodes if _node_wanted(req, n)]
    parts = [p for p in partitions if req.partitions is None or p.get("name") in req.partitions]
    filtering = req.nodes is not None or req.states is not None or req.dead or req.responding
    rows = sif.build_rows(kept_nodes, parts, req.layout.fields,
                          node_oriented=req.node_oriented, exact=req.exact)
    if filtering:
        rows = [r for r in rows if r.nodes]
    lines = sif.render(rows, req.layout, header=not req.noheader, tz=tz)
    if (req.long or req.iterate) and not req.noheader:
        lines.insert(0, dt.datetime.fromtimestamp(now, tz).ctime())
    return lines


def _body(client: Client, argv: list[str]) -> int:
    try:
        req = parse_request(argv)
    except OptionError as exc:
        print(exc, file=sys.stderr)
        print('Try "sinfo --help" for more information', file=sys.stderr)
        return 1
    if req.show:
        print({"version": VERSION, "help": HELP, "usage": USAGE}[req.show])
        return 0
    cluster = None
    if req.clusters is not None:
        from corral.cli.common import clusters

        cluster = clusters.check(client, req.clusters)
    while True:
        nodes, partitions = client.nodes(), client.partitions()
        lines = listing(req, nodes, partitions, system_clock())
        if cluster is not None and not req.noheader:
            clusters.head_listing(lines, cluster, bool(req.long or req.iterate))
        sys.stdout.write("".join(line + "\n" for line in lines))
        sys.stdout.flush()
        if not req.iterate:
            return 0
        print()
        time.sleep(req.iterate)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command("sinfo", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
