"""What a replay leaves behind: a table on the terminal, results.json, and report.html.

report.html is one self-contained file: its figures are PNGs drawn with matplotlib's Agg
renderer (no display) and embedded as base64, so it can be mailed or archived as is.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corral.sim.metrics import GroupWait, Summary, record
from corral.sim.replay import Replay

if TYPE_CHECKING:
    from matplotlib.figure import Figure

BINS = 200
TOP_GROUPS = 15


@dataclass(slots=True)
class Results:
    source: str
    machine: str
    total_cpus: int
    skipped: Counter[str]
    notes: list[str]
    runs: list[tuple[Replay, Summary]] = field(default_factory=list)
    skipped_at: dict[str, int] = field(default_factory=dict)  # first trace line, by reason


# -- terminal -----------------------------------------------------------------------------------

def _hours(seconds: float) -> str:
    """Seconds as they compare with the literature's tables, hours for a human beside them."""
    return f"{seconds:,.0f} s" if seconds < 3600 else f"{seconds:,.0f} s ({seconds / 3600:.1f} h)"


def _span(seconds: int) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds} s"


def table(results: Results) -> str:
    header = ("policy", "jobs", "util", "mean wait", "median wait", "p95 wait", "bsld",
              "makespan", "killed", "replay")
    rows = [header]
    for _, s in results.runs:
        rows.append((s.policy, f"{s.jobs:,}", f"{s.utilization:.3f}", _hours(s.mean_wait_s),
                     _hours(s.median_wait_s), _hours(s.p95_wait_s),
                     f"{s.mean_bounded_slowdown:.2f}", _span(s.makespan_s),
                     str(s.killed_at_limit), f"{s.replay_s:.1f} s"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    return "\n".join(lines)


def group_lines(results: Results, attr: str, top: int = 10) -> list[str]:
    """Mean wait per account (or user) under each policy, the `top` with most jobs."""
    groups: list[dict[str, GroupWait]] = [dict(getattr(s, attr)) for _, s in results.runs]
    if not groups or len(groups[0]) < 2:
        return []  # one group's wait is the table's mean wait
    names = sorted(groups[0], key=lambda n: (-groups[0][n].jobs, n))
    word = "account" if attr == "per_account" else "user"
    rows = [(word, "jobs", *(f"wait: {s.policy}" for _, s in results.runs))]
    rows += [(name, str(groups[0][name].jobs), *(_hours(g[name].mean_wait_s) for g in groups))
             for name in names[:top]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"mean wait by {word}" + (f" (the {top} with most jobs, of {len(names)})"
                                       if len(names) > top else "") + ":"]
    lines += ["  " + "  ".join(c.rjust(w) if i else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True)))
              for r in rows]
    return lines


def _first_line(results: Results, reason: str) -> str:
    line = results.skipped_at.get(reason)
    return f" (first at line {line})" if line is not None else ""


def skipped_lines(results: Results) -> list[str]:
    total = sum(results.skipped.values())
    lines = [f"skipped {total} jobs" + (":" if total else "")]
    lines += [f"  {count:>8}  {reason}" + _first_line(results, reason)
              for reason, count in results.skipped.most_common()]
    return lines


# -- results.json -------------------------------------------------------------------------------

def _summary_json(summary: Summary, replay: Replay) -> dict[str, Any]:
    data = summary.as_dict()
    data["records"] = [record(o) for o in replay.outcomes]
    return data


def write_json(results: Results, path: Path) -> None:
    document = {
        "source": results.source,
        "machine": results.machine,
        "total_cpus": results.total_cpus,
        "skipped_by_reason": dict(results.skipped.most_common()),
        "first_skipped_line": results.skipped_at,
        "notes": results.notes,
        "policies": [_summary_json(s, r) for r, s in results.runs],
    }
    with path.open("w") as handle:
        json.dump(document, handle, separators=(",", ":"))


# -- figures ------------------------------------------------------------------------------------

def _binned(replay: Replay, start: int, end: int) -> tuple[Any, Any, Any]:
    """Bin centres (days from `start`), and the time-weighted mean busy fraction and queue
    length in each bin: the series is a step function, each value holding until the next."""
    import numpy as np

    times = np.asarray(replay.series.times, dtype=float)
    edges = np.linspace(start, max(end, start + 1), BINS + 1)
    out = []
    for values in (np.asarray(replay.series.busy_cpus, float) / max(1, replay.total_cpus),
                   np.asarray(replay.series.queued, float)):
        if len(times) == 0:
            out.append(np.zeros(BINS))
            continue
        area = np.concatenate(([0.0], np.cumsum(values[:-1] * np.diff(times))))
        at = np.clip(np.searchsorted(times, edges, side="right") - 1, 0, len(times) - 1)
        cumulative = area[at] + values[at] * np.clip(edges - times[at], 0, None)
        out.append(np.diff(cumulative) / np.diff(edges))
    centres = (edges[:-1] + edges[1:]) / 2
    return (centres - start) / 86400, out[0], out[1]


def _label(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def figures(results: Results) -> dict[str, str]:
    """Base64 PNGs by title."""
    from matplotlib.figure import Figure

    runs = results.runs
    start = min((min(o.submit for o in r.outcomes) for r, _ in runs if r.outcomes), default=0)
    end = max((max(o.end for o in r.outcomes) for r, _ in runs if r.outcomes), default=1)
    out: dict[str, str] = {}

    over_time = Figure(figsize=(10, 6.2), layout="constrained")
    util_ax, queue_ax = over_time.subplots(2, 1, sharex=True)
    for replay, _ in runs:
        days, busy, queued = _binned(replay, start, end)
        util_ax.plot(days, busy * 100, label=replay.policy, linewidth=1)
        queue_ax.plot(days, queued, label=replay.policy, linewidth=1)
    util_ax.set_ylabel("cores in use (%)")
    util_ax.set_ylim(0, 105)
    util_ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncols=len(runs), frameon=False)
    over_time.suptitle(f"Utilization and queue length (means over {BINS} equal spans)")
    peaks = [max(replay.series.queued, default=0) for replay, _ in runs]
    if len(peaks) > 1 and max(peaks) > 20 * max(1, min(peaks)):
        # One policy's queue dwarfs the others': a log scale keeps theirs readable.
        queue_ax.set_yscale("symlog", linthresh=10)
        queue_ax.set_ylabel("jobs waiting (log above 10)")
    else:
        queue_ax.set_ylabel("jobs waiting")
    queue_ax.set_xlabel("days since the first submit")
    for ax in (util_ax, queue_ax):
        ax.grid(alpha=0.3)
    out["Utilization and queue length over time"] = _png(over_time)

    waits = Figure(figsize=(10, 4), layout="constrained")
    ax = waits.subplots()
    for replay, _ in runs:
        values = sorted(o.wait_s for o in replay.outcomes)
        if values:
            fraction = [(i + 1) / len(values) for i in range(len(values))]
            ax.step([max(v, 1) for v in values], fraction, where="post", label=replay.policy)
    ax.set_xscale("log")
    ax.set_xlabel("wait (s, log scale; waits under 1 s drawn at 1 s)")
    ax.set_ylabel("fraction of jobs")
    ax.set_title("Wait distribution (cumulative)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    out["Wait distribution"] = _png(waits)

    compare = Figure(figsize=(10, 3.4), layout="constrained")
    axes = compare.subplots(1, 4)
    names = [s.policy for _, s in runs]
    metrics = (("mean wait (h)", [s.mean_wait_s / 3600 for _, s in runs]),
               ("95th pct wait (h)", [s.p95_wait_s / 3600 for _, s in runs]),
               ("mean bounded slowdown", [s.mean_bounded_slowdown for _, s in runs]),
               ("utilization (%)", [s.utilization * 100 for _, s in runs]))
    colours = [f"C{i}" for i in range(len(names))]
    for ax, (title, heights) in zip(axes, metrics, strict=True):
        bars = ax.bar(names, heights, color=colours)
        ax.bar_label(bars, fmt=_label, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelsize=8)
        ax.margins(y=0.2)
    compare.suptitle("Policies compared")
    out["Policies compared"] = _png(compare)
    return out


# -- report.html --------------------------------------------------------------------------------

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { padding: .25em .7em; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f3f3f3; }
img { max-width: 100%; }
.note { color: #555; }
"""


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _group_table(title: str, runs: Sequence[Summary], attr: str) -> str:
    """One row per user (or account), the most active first; mean wait under each policy."""
    groups: list[dict[str, GroupWait]] = [dict(getattr(s, attr)) for s in runs]
    names = sorted(groups[0], key=lambda n: (-groups[0][n].jobs, n)) if groups else []
    rows = [(name, groups[0][name].jobs, *(_hours(g[name].mean_wait_s) for g in groups))
            for name in names[:TOP_GROUPS]]
    more = f" (the {TOP_GROUPS} with most jobs, of {len(names)})" if len(names) > TOP_GROUPS else ""
    header = ("name", "jobs", *(f"mean wait: {s.policy}" for s in runs))
    return f"<h3>{html.escape(title)}{more}</h3>" + _table(header, rows)


def render_html(results: Results) -> str:
    summary_rows = [(s.policy, f"{s.jobs:,}", f"{s.utilization:.3f}", _hours(s.mean_wait_s),
                     _hours(s.median_wait_s), _hours(s.p95_wait_s),
                     f"{s.mean_bounded_slowdown:.2f}", _span(s.makespan_s),
                     f"{s.killed_at_limit:,}", f"{s.backfilled:,}", f"{s.replay_s:.1f} s")
                    for _, s in results.runs]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>corral sim: {html.escape(results.source)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>corral sim: {html.escape(results.source)}</h1>",
        f"<p>Machine: {html.escape(results.machine)}.</p>",
        "<h2>Summary</h2>",
        _table(("policy", "jobs", "utilization", "mean wait", "median wait", "95th pct wait",
                "mean bounded slowdown (τ = 10 s)", "makespan", "killed at limit",
                "backfilled", "replay time"), summary_rows),
    ]
    skipped = sum(results.skipped.values())
    parts.append(f"<p>{skipped} trace jobs were skipped" + (":" if skipped else ".") + "</p>")
    if skipped:
        parts.append(_table(("reason", "jobs", "first at line"),
                            [(reason, f"{count:,}", results.skipped_at.get(reason, ""))
                             for reason, count in results.skipped.most_common()]))
    for note in results.notes:
        parts.append(f"<p class='note'>Note: {html.escape(note)}</p>")
    for title, png in figures(results).items():
        parts.append(f"<h2>{html.escape(title)}</h2>"
                     f"<img alt='{html.escape(title)}' src='data:image/png;base64,{png}'>")
    summaries = [s for _, s in results.runs]
    parts.append("<h2>Waits by user and account</h2>")
    parts.append(_group_table("Users", summaries, "per_user"))
    parts.append(_group_table("Accounts", summaries, "per_account"))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_output(results: Results, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path, html_path = directory / "results.json", directory / "report.html"
    write_json(results, json_path)
    html_path.write_text(render_html(results), encoding="utf-8")
    return json_path, html_path
