"""`corral`: start the controller, an agent, or the all-in-one cluster (`corral up`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from corral import __version__
from corral.client.locate import default_data_dir
from corral.model.timefmt import parse_memory_mb
from corral.up import cluster_key

if TYPE_CHECKING:
    from corral.agent.resources import NodeFacts

DEFAULT_PORT = 6817


def _memory(text: str) -> int:
    try:
        return parse_memory_mb(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid memory size: {text}") from None


def _gpu_devices(text: str) -> list[str]:
    from corral.agent.gpus import parse_devices

    try:
        return parse_devices(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run_controller(args: argparse.Namespace) -> int:
    from corral.controller.server import serve
    from corral.settings import ControllerSettings, load_cluster_config
    from corral.store.lock import InUse, claim
    from corral.store.private import adopt_legacy, private_dir, sqlite_file
    from corral.store.store import sqlite_url

    data_dir = Path(args.data_dir or default_data_dir(os.environ)).absolute()
    data_dir.mkdir(parents=True, exist_ok=True)
    db = args.db or os.environ.get("CORRAL_DB_URL") or sqlite_url(private_dir(data_dir))
    try:
        # Before anything in the directory is opened for writing: a second controller must
        # leave the running one's store, socket and files as they were.
        locks = claim(data_dir, sqlite_file(db))
    except (InUse, OSError) as exc:
        print(f"corral: error: {exc}", file=sys.stderr)
        return 1
    # What the controller creates is its own: the store's files and their SQLite journals
    # are made 0600 (the socket, which every user needs, is opened up where it is made).
    os.umask(0o077)
    adopt_legacy(data_dir)
    settings = ControllerSettings(
        data_dir=data_dir, db_url=db, socket_path=Path(args.socket or data_dir / "corral.sock"),
        host=args.host, port=args.port, cluster_key=os.environ.get("CORRAL_CLUSTER_KEY") or cluster_key(data_dir))
    if args.config:
        try:
            settings = replace(settings, **load_cluster_config(Path(args.config)))
        except (OSError, ValueError, TypeError) as exc:  # TOMLDecodeError is a ValueError
            print(f"corral controller: error: {args.config}: {exc}", file=sys.stderr)
            return 1
    if args.kill_wait is not None:
        settings = replace(settings, kill_wait=args.kill_wait)
    try:
        return serve(settings)
    finally:
        for lock in locks:
            lock.release()


def run_agent(args: argparse.Namespace) -> int:
    import asyncio

    state_dir = Path(args.state_dir or Path(default_data_dir(os.environ)) / "agents" / args.name)
    if args.check:
        return check_agent(args, state_dir)
    if not args.controller:
        print("corral agent: error: the following arguments are required: --controller",
              file=sys.stderr)
        return 2
    from corral.agent.agent import Agent

    key = os.environ.get("CORRAL_CLUSTER_KEY")
    if args.cluster_key_file:
        key = Path(args.cluster_key_file).read_text().strip()
    if not key:
        print("corral agent: error: no cluster key (CORRAL_CLUSTER_KEY or --cluster-key-file)",
              file=sys.stderr)
        return 1
    facts = _node_facts(args, state_dir)
    if facts is None:
        return 1
    agent = Agent(args.controller, facts, state_dir, key)
    asyncio.run(agent.run())
    return 0


def _node_facts(args: argparse.Namespace, state_dir: Path) -> NodeFacts | None:
    """What this node offers, detected or as its options declare; None (said) when the
    options contradict the hardware."""
    from corral.agent.resources import detect

    try:
        return detect(args.name, cpus=args.cpus, memory_mb=args.memory, gpus=args.gpus,
                      gpu_type=args.gpu_type, gpu_devices=args.gpu_devices,
                      jobs_dir=state_dir / "jobs")
    except ValueError as exc:
        print(f"corral agent: error: {exc}", file=sys.stderr)
        return None


def check_agent(args: argparse.Namespace, state_dir: Path) -> int:
    """`corral agent --check`: the node's resources and what would be enforced on its jobs."""
    from corral.agent import gpus
    from corral.agent.resources import check_report

    _, gpu_note = (gpus.discover() if args.gpus is None or args.gpu_devices is not None
                   else ([], "declared by --gpus"))
    facts = _node_facts(args, state_dir)
    if facts is None:
        return 1
    print(check_report(facts, gpu_note))
    return 0


def run_up(args: argparse.Namespace) -> int:
    from corral.up import AllInOne

    return AllInOne(args).run()


def run_sim(argv: list[str]) -> int:
    # Imported here: the simulator's plotting and replay code is no cost to other commands.
    from corral.sim.cli import main as sim_main

    return sim_main(argv, default_data_dir=str(default_data_dir(os.environ)))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="corral", description="corral workload manager")
    top.add_argument("-V", "--version", action="version", version=f"corral {__version__}")
    top.add_argument("-v", "--verbose", action="store_true")
    sub = top.add_subparsers(dest="command", required=True)

    ctl = sub.add_parser("controller", help="run the controller (queue, scheduler, API)")
    ctl.add_argument("--data-dir")
    ctl.add_argument("--db", help="database URL (default: SQLite in the data dir; or CORRAL_DB_URL)")
    ctl.add_argument("--host", default="127.0.0.1", help="TCP address agents connect to")
    ctl.add_argument("--port", type=int, default=DEFAULT_PORT)
    ctl.add_argument("--socket", help="Unix socket path (default: DATA_DIR/corral.sock)")
    ctl.add_argument("--config", help="cluster.toml with partitions and controller settings")
    ctl.add_argument("--kill-wait", type=float, help="seconds between SIGTERM and SIGKILL")
    ctl.set_defaults(run=run_controller)

    agent = sub.add_parser("agent", help="run a node agent")
    agent.add_argument("--controller", help="controller URL, e.g. http://head:6817 (required)")
    agent.add_argument("--name", default=os.uname().nodename.split(".")[0])
    agent.add_argument("--cpus", type=int)
    agent.add_argument("--memory", type=_memory, help="e.g. 8G")
    agent.add_argument("--gpus", type=int)
    agent.add_argument("--gpu-type")
    agent.add_argument("--gpu-devices", type=_gpu_devices, metavar="LIST",
                       help="the machine's GPUs this node owns, by index or UUID (e.g. 2,3), "
                            "when one machine is split into several nodes")
    agent.add_argument("--state-dir")
    agent.add_argument("--cluster-key-file")
    agent.add_argument("--check", action="store_true",
                       help="print the node's resources and how jobs would be isolated, then exit")
    agent.set_defaults(run=run_agent)

    up = sub.add_parser("up", help="controller and agents on this machine, in the foreground")
    up.add_argument("--nodes", type=int, default=1)
    up.add_argument("--cpus-per-node", type=int)
    up.add_argument("--memory-per-node", type=_memory)
    up.add_argument("--gpus-per-node", type=int, default=0)
    up.add_argument("--gpu-type")
    up.add_argument("--data-dir")
    up.add_argument("--port", type=int, default=DEFAULT_PORT)
    up.add_argument("--config")
    up.add_argument("--kill-wait", type=float)
    up.set_defaults(run=run_up)

    # Listed for --help; main() hands everything after `sim` to corral.sim.cli unparsed.
    sim = sub.add_parser("sim", add_help=False,
                         help="replay a workload trace or the accounting through the scheduler")
    sim.add_argument("sim_args", nargs=argparse.REMAINDER)
    sim.set_defaults(run=lambda args: run_sim(args.sim_args))

    why = sub.add_parser("why", help="why a job waits, what for and when it should start")
    why.add_argument("job_id")
    why.set_defaults(run=lambda args: run_why([args.job_id]))
    return top


def run_why(argv: list[str]) -> int:
    from corral.cli.slurm.why import main as why_main

    return why_main(argv)


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    first = next((i for i, w in enumerate(words) if w not in ("-v", "--verbose")), len(words))
    if words[first:first + 1] == ["sim"]:
        return run_sim(words[first + 1:])
    if words[first:first + 1] == ["why"]:
        return run_why(words[first + 1:])
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose or args.command != "up" else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
