"""`corral sim`: replay a trace (or the cluster's accounting) under one or more policies."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from corral.core.decisions import SchedulingContext, SchedulingPolicy
from corral.core.policies import names as policy_names
from corral.core.priority import MULTIFACTOR
from corral.model.cluster import Partition
from corral.sim.metrics import summarize
from corral.sim.replay import Progress, context_for, replay
from corral.sim.report import Results, group_lines, skipped_lines, table, write_output
from corral.sim.workload import Workload

PROG = "corral sim"


class UsageError(Exception):
    """A mistake on the command line or in its inputs: one line on stderr, exit 1."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description="Replay a workload through corral's scheduler on a virtual clock.")
    p.add_argument("trace", nargs="?", help="SWF trace file (.swf or .swf.gz)")
    p.add_argument("--from-accounting", action="store_true",
                   help="replay this cluster's own finished jobs instead of a trace")
    p.add_argument("--db", help="accounting database URL (default: CORRAL_DB_URL, or the "
                                "controller's SQLite file in --data-dir)")
    p.add_argument("--data-dir", help="the controller's data directory")
    p.add_argument("--start", type=float, help="accounting: jobs that ended after (epoch s)")
    p.add_argument("--end", type=float, help="accounting: jobs submitted before (epoch s)")
    p.add_argument("--policy", choices=policy_names(),
                   help="backfill mode (default: --config's [scheduler] backfill, else easy)")
    p.add_argument("--compare", nargs="?", const=",".join(policy_names()), metavar="P1,P2,…",
                   help="replay under several policies side by side (default: all)")
    p.add_argument("--config", help="cluster.toml: partitions, [scheduler] and node features "
                                    "as the controller reads them")
    p.add_argument("--weights", metavar="age=N,fairshare=N,…",
                   help="multifactor priority weights (age, fairshare, jobsize, partition, "
                        "qos), over --config's; implies PriorityType=priority/multifactor")
    p.add_argument("--nodes", type=int, help="number of nodes (default: from the trace header)")
    p.add_argument("--cpus-per-node", type=int, help="cores per node")
    p.add_argument("--memory-per-node", type=int, help="accounting: MB per node with --nodes")
    p.add_argument("--max-jobs", type=int, help="replay only the first N jobs")
    p.add_argument("--output", help="directory for results.json and report.html")
    p.add_argument("--exact", action="store_true",
                   help="ask the core about the whole queue at every instant (slow; a check)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: when stderr is a terminal)")
    return p


def _policies(args: argparse.Namespace, config: Config) -> list[str]:
    if args.compare is None:
        return [args.policy or config.policy.backfill]
    names = [n.strip() for n in args.compare.split(",") if n.strip()]
    unknown = [n for n in names if n not in policy_names()]
    if unknown or not names:
        raise UsageError(f"unknown policy in --compare: {','.join(unknown) or '(none)'} "
                         f"(choose from {', '.join(policy_names())})")
    return list(dict.fromkeys(names))


@dataclass(frozen=True, slots=True)
class Config:
    """What the replay takes from cluster.toml and the command line, as the controller would."""

    partitions: tuple[Partition, ...] = ()
    policy: SchedulingPolicy = field(default_factory=SchedulingPolicy)
    features: Mapping[str, frozenset[str]] = field(default_factory=dict)
    enforce_associations: bool = True

    @property
    def fairshare(self) -> bool:
        priority = self.policy.priority
        return priority.type == MULTIFACTOR and priority.weight_fairshare > 0


WEIGHTS = {"age": "weight_age", "fairshare": "weight_fairshare", "jobsize": "weight_job_size",
           "partition": "weight_partition", "qos": "weight_qos"}


def _weights(text: str, policy: SchedulingPolicy) -> SchedulingPolicy:
    changes: dict[str, int] = {}
    for item in (i.strip() for i in text.split(",")):
        name, sep, value = item.partition("=")
        key = WEIGHTS.get(name.strip().lower())
        if not sep or key is None:
            raise UsageError(f"invalid --weights entry {item!r} (give NAME=N, NAME one of "
                             f"{', '.join(WEIGHTS)})")
        try:
            changes[key] = int(value)
        except ValueError:
            raise UsageError(f"invalid --weights entry {item!r}: {value!r} is not a number") from None
        if changes[key] < 0:
            raise UsageError(f"invalid --weights entry {item!r}: weights are not negative")
    base = policy.priority
    priority = replace(base, type=MULTIFACTOR,
                       weight_age=changes.get("weight_age", base.weight_age),
                       weight_fairshare=changes.get("weight_fairshare", base.weight_fairshare),
                       weight_job_size=changes.get("weight_job_size", base.weight_job_size),
                       weight_partition=changes.get("weight_partition", base.weight_partition),
                       weight_qos=changes.get("weight_qos", base.weight_qos))
    return replace(policy, priority=priority)


def _config(args: argparse.Namespace) -> Config:
    config = Config()
    if args.config:
        from corral.settings import load_cluster_config

        path = Path(args.config)
        try:
            values = load_cluster_config(path)
        except OSError as error:
            raise UsageError(f"cannot read {path}: {error.strerror}") from None
        except (ValueError, KeyError) as error:
            raise UsageError(f"invalid cluster config {path}: {error}") from None
        config = Config(tuple(values.get("partitions", ())),
                        values.get("policy", SchedulingPolicy()),
                        dict(values.get("node_features", ())),
                        bool(values.get("enforce_associations", True)))
    if args.weights:
        config = replace(config, policy=_weights(args.weights, config.policy))
    return config


def _positive(value: int | None, option: str) -> None:
    if value is not None and value <= 0:
        raise UsageError(f"{option} must be a positive number")


def load(args: argparse.Namespace, config: Config, default_data_dir: str | None) -> Workload:
    for value, option in ((args.nodes, "--nodes"), (args.cpus_per_node, "--cpus-per-node"),
                          (args.max_jobs, "--max-jobs"),
                          (args.memory_per_node, "--memory-per-node")):
        _positive(value, option)
    partitions = config.partitions
    if args.from_accounting:
        if args.trace:
            raise UsageError("give either a trace file or --from-accounting, not both")
        from corral.sim.accounting import AccountingError, from_accounting

        url = args.db or os.environ.get("CORRAL_DB_URL")
        data_dir = args.data_dir or default_data_dir
        try:
            return from_accounting(url, data_dir, partitions=partitions, start=args.start,
                                   end=args.end, nodes=args.nodes,
                                   cpus_per_node=args.cpus_per_node,
                                   memory_per_node=args.memory_per_node, max_jobs=args.max_jobs,
                                   features=config.features,
                                   accounts=config.enforce_associations)
        except AccountingError as error:
            raise UsageError(str(error)) from None
    if not args.trace:
        raise UsageError("a trace file or --from-accounting is required")
    from corral.sim.swf import read_trace
    from corral.sim.workload import from_trace

    path = Path(args.trace)
    try:
        trace = read_trace(path)
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None
    cut = args.max_jobs is not None and args.max_jobs < len(trace.jobs)
    note = f"--max-jobs: the first {args.max_jobs} of {len(trace.jobs)} jobs by submit time"
    if cut:
        trace.jobs = trace.jobs[: args.max_jobs]
    # A trace has no account tree; fair-share needs one, so its groups become accounts.
    workload = from_trace(trace, nodes=args.nodes, cpus_per_node=args.cpus_per_node,
                          partitions=partitions, source=path.name, features=config.features,
                          accounts=config.fairshare)
    if cut:
        workload.notes.insert(0, note)
    return workload


@contextmanager
def _progress_bars(show: bool) -> Iterator[Callable[[str], Progress] | None]:
    """A factory of per-policy progress callbacks drawing rich bars on stderr, or None."""
    if not show:
        yield None
        return
    from rich import progress as rich

    columns = (rich.TextColumn("{task.description}"), rich.BarColumn(),
               rich.TextColumn("{task.completed:,}/{task.total:,} jobs ended"),
               rich.TimeElapsedColumn(), rich.TextColumn("eta"), rich.TimeRemainingColumn())
    with rich.Progress(*columns, transient=True) as bars:
        def bar_for(policy: str) -> Progress:
            task = bars.add_task(f"replaying ({policy})", total=0)

            def update(done: int, total: int) -> None:
                bars.update(task, completed=done, total=total)
            return update

        yield bar_for


def _machine(workload: Workload) -> str:
    nodes = workload.machine.nodes
    sizes = sorted({n.cpus for n in nodes})
    shape = (f"{sizes[0]} core{'s' if sizes[0] != 1 else ''}" if len(sizes) == 1
             else f"{sizes[0]}–{sizes[-1]} cores")
    parts = ", ".join(workload.machine.partitions)
    count = f"{len(nodes)} node{'s' if len(nodes) != 1 else ''}"
    return (f"{count} of {shape} ({workload.machine.total_cpus} cores); "
            f"partitions: {parts}")


def _priority(policy: SchedulingPolicy) -> str | None:
    p = policy.priority
    if p.type != MULTIFACTOR:
        return None
    weights = ", ".join(f"{name}={getattr(p, key)}" for name, key in WEIGHTS.items())
    return f"priority/multifactor ({weights}; fair-share {p.fairshare})"


def execute(args: argparse.Namespace, default_data_dir: str | None = None) -> int:
    config = _config(args)
    policies = _policies(args, config)
    workload = load(args, config, default_data_dir)
    if not workload.requests:
        raise UsageError("no job to replay" + (
            f" ({sum(workload.skipped.values())} skipped)" if workload.skipped else ""))
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    skipped = sum(workload.skipped.values())

    notes = list(workload.notes)
    priority = _priority(config.policy)
    if priority:
        notes.append(f"{priority}: every pass sees the whole queue (slower)")
    if config.fairshare and not args.from_accounting:
        notes.append("fair-share: each trace group is an account, its users associations "
                     "of one share each")
    results = Results(workload.source, _machine(workload), workload.machine.total_cpus,
                      workload.skipped, notes, skipped_at=workload.skipped_at)
    base = SchedulingContext(config.policy, workload.accounts)
    with _progress_bars(show) as bar_for:
        for policy in policies:
            done = replay(workload, context_for(policy, base), exact=args.exact,
                          progress=bar_for(policy) if bar_for else None)
            results.runs.append((done, summarize(done, skipped)))
    print(f"{results.source}: {len(workload.requests)} jobs on {results.machine}")
    for line in skipped_lines(results) + [f"note: {n}" for n in results.notes]:
        print(line)
    print(table(results))
    for line in group_lines(results, "per_account"):
        print(line)
    for replayed, summary in results.runs:
        if replayed.never_started:
            print(f"{summary.policy}: {len(replayed.never_started)} jobs never started")
    if args.output:
        json_path, html_path = write_output(results, Path(args.output))
        print(f"wrote {json_path} and {html_path}")
    return 0


def main(argv: Sequence[str] | None = None, default_data_dir: str | None = None) -> int:
    args = parser().parse_args(list(argv) if argv is not None else None)
    try:
        return execute(args, default_data_dir)
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130

