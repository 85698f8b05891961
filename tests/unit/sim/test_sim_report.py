"""`corral sim` end to end on a small trace: the table, the skipped-line summary, and the
report's numbers recomputed here from the per-job records in results.json."""

from __future__ import annotations

import json
import math
import random
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from corral.entry import main as corral

POLICIES = ["fifo", "easy", "conservative"]


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(7)
    lines = ["; MaxProcs: 16", "; MaxNodes: 4", "; Queue: 1 batch"]
    submit = 0
    for number in range(1, 121):
        submit += rng.choice([0, 20, 60, 300])
        procs = rng.choice([1, 2, 4, 8, 16])
        run = rng.choice([5, 60, 600, 1800])
        req = rng.choice([run, 2 * run, run // 2 + 60])
        lines.append(f"{number} {submit} -1 {run} {procs} -1 -1 {procs} {req} -1 1 "
                     f"{rng.randint(1, 4)} {rng.randint(1, 2)} -1 1 -1 -1 -1")
    lines += ["999 10 -1 -1 4 -1 -1 4 60 -1 1 1 1 -1 1 -1 -1 -1",  # no run time
              "1000 10 -1 60 0 -1 -1 0 60 -1 1 1 1 -1 1 -1 -1 -1",  # no processors
              "1001 10 -1 60 4",  # truncated
              "1002 10 -1 60 64 -1 -1 64 60 -1 1 1 1 -1 1 -1 -1 -1"]  # bigger than the machine
    path = tmp_path_factory.mktemp("trace") / "small.swf"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def run(trace: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("out")
    result = subprocess.run(
        [sys.executable, "-m", "corral.entry", "sim", str(trace), "--compare",
         ",".join(POLICIES), "--output", str(out), "--no-progress"],
        capture_output=True, text=True, check=True)
    return out, result.stdout


def test_table_and_skipped_summary_are_printed(run: tuple[Path, str]) -> None:
    _, stdout = run
    assert "120 jobs on 4 nodes of 4 cores (16 cores)" in stdout
    assert "skipped 4 jobs:" in stdout
    for reason in ("unknown (negative) run time", "no processor count",
                   "malformed: 5 fields instead of 18", "never starts on this machine"):
        assert reason in stdout
    # Each reason names its first line, so that a user can look at it.
    assert "malformed: 5 fields instead of 18 (first at line 126)" in stdout
    for policy in POLICIES:
        assert any(line.startswith(policy) for line in stdout.splitlines())
    assert "mean wait by account:" in stdout


def _quantile(values: list[float], q: float) -> float:
    # statistics' "inclusive" method is the linear interpolation numpy uses by default.
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def test_reported_numbers_follow_from_the_records(run: tuple[Path, str]) -> None:
    out, _ = run
    document = json.loads((out / "results.json").read_text())
    assert [p["policy"] for p in document["policies"]] == POLICIES
    assert document["total_cpus"] == 16
    assert sum(document["skipped_by_reason"].values()) == 4
    assert document["first_skipped_line"]["no processor count"] == 125
    for entry in document["policies"]:
        records = entry["records"]
        assert entry["jobs"] == len(records) == 120 and entry["skipped"] == 4
        waits = [r["start"] - r["submit"] for r in records]
        assert [r["wait_s"] for r in records] == waits
        runs = [r["end"] - r["start"] for r in records]
        makespan = max(r["end"] for r in records) - min(r["submit"] for r in records)
        used = sum(r["cpus"] * (r["end"] - r["start"]) for r in records)
        assert entry["makespan_s"] == makespan
        assert entry["utilization"] == pytest.approx(used / (16 * makespan))
        assert entry["mean_wait_s"] == pytest.approx(statistics.fmean(waits))
        assert entry["median_wait_s"] == pytest.approx(statistics.median(waits))
        assert entry["p95_wait_s"] == pytest.approx(_quantile(waits, 0.95))
        slowdowns = [max(1, (w + r) / max(r, 10)) for w, r in zip(waits, runs, strict=True)]
        assert entry["mean_bounded_slowdown"] == pytest.approx(statistics.fmean(slowdowns))
        assert entry["killed_at_limit"] == sum(
            r["time_limit_s"] is not None and r["end"] - r["start"] == r["time_limit_s"]
            and r["state"] == "TIMEOUT" for r in records)
        assert entry["killed_at_limit"] == sum(r["killed"] for r in records) > 0
        by_user: dict[str, list[int]] = {}
        for r in records:
            by_user.setdefault(r["user"], []).append(r["start"] - r["submit"])
        assert {u: g["jobs"] for u, g in entry["per_user"].items()} == {
            u: len(w) for u, w in by_user.items()}
        for user, group in entry["per_user"].items():
            assert group["mean_wait_s"] == pytest.approx(statistics.fmean(by_user[user]))
        assert sum(g["jobs"] for g in entry["per_account"].values()) == 120
        # Capacity is never exceeded at any instant.
        events = sorted([(r["start"], r["cpus"]) for r in records]
                        + [(r["end"], -r["cpus"]) for r in records], key=lambda e: (e[0], e[1]))
        level = 0
        for _, delta in events:
            level += delta
            assert level <= 16
    fifo, easy, _ = document["policies"]
    assert easy["mean_wait_s"] < fifo["mean_wait_s"]


def test_report_is_one_self_contained_html_file(run: tuple[Path, str]) -> None:
    out, _ = run
    page = (out / "report.html").read_text()
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert page.count("src='data:image/png;base64,") == 3
    assert "http://" not in page and "https://" not in page  # nothing fetched from elsewhere
    for title in ("Utilization and queue length over time", "Wait distribution",
                  "Policies compared", "Waits by user and account", "mean wait: conservative"):
        assert title in page


def test_usage_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert corral(["sim", str(tmp_path / "missing.swf")]) == 1
    assert capsys.readouterr().err.strip().startswith("corral sim: error: cannot read")
    assert corral(["sim", "--compare", "easy,lifo", str(tmp_path / "x")]) == 1
    assert "unknown policy in --compare: lifo" in capsys.readouterr().err
    assert corral(["sim"]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    empty = tmp_path / "empty.swf"
    empty.write_text("; MaxProcs: 4\n")
    assert corral(["sim", str(empty)]) == 1
    assert "no job to replay" in capsys.readouterr().err


def test_other_commands_do_not_load_the_simulator() -> None:
    code = ("import sys, corral.entry as e; e.parser(); "
            "print(any(m.startswith(('corral.sim', 'matplotlib', 'rich')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_wait_quantile_helper_matches_numpy_linear() -> None:
    # The oracle used above, checked against a hand value: ranks 0..4 of [0, 10, 20, 30, 40].
    assert _quantile([40, 0, 30, 10, 20], 0.95) == pytest.approx(38.0)
    assert not math.isnan(_quantile([1.0, 1.0], 0.5))
