"""The policy configuration a replay runs under: cluster.toml's [scheduler], --weights,
fair-share accrued during the replay, and node features kept as jobs come and go."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from corral.core.decisions import SchedulingContext, SchedulingPolicy
from corral.core.priority import MULTIFACTOR, PriorityConfig
from corral.entry import main as corral
from corral.sim.replay import context_for, replay
from corral.sim.swf import read_lines
from corral.sim.workload import DEFAULT_PARTITION, Machine, Request, Workload, make_job, make_nodes

# One 1-core node. User 1 (group 1) submits jobs 1 and 2 at once, user 2 (group 2) job 3 a
# second later; each runs 100 s. By job id, job 2 runs before job 3. With fair-share, user 1
# has used 100 core-seconds when job 1 ends and user 2 none: job 3 goes first.
SHARING = ["; MaxProcs: 1", "; MaxNodes: 1",
           "1 0 -1 100 1 -1 -1 1 200 -1 1 1 1 -1 -1 -1 -1 -1",
           "2 0 -1 100 1 -1 -1 1 200 -1 1 1 1 -1 -1 -1 -1 -1",
           "3 1 -1 100 1 -1 -1 1 200 -1 1 2 2 -1 -1 -1 -1 -1"]

FAIRSHARE = SchedulingPolicy(priority=PriorityConfig(type=MULTIFACTOR, weight_fairshare=10000))


def _starts(document: dict[str, object], policy: int = 0) -> dict[int, int]:
    entry = document["policies"][policy]  # type: ignore[index]
    return {r["origin"]: r["start"] for r in entry["records"]}


def test_fair_share_usage_accrues_during_the_replay() -> None:
    from corral.sim.workload import from_trace

    plain = from_trace(read_lines(SHARING))
    assert {o.origin: o.start for o in replay(plain, "fifo").outcomes} == {1: 0, 2: 100, 3: 200}
    shared = from_trace(read_lines(SHARING), accounts=True)
    assert shared.accounts is not None and set(shared.accounts.accounts) == {
        "root", "group1", "group2"}
    context = context_for("fifo", SchedulingContext(FAIRSHARE, shared.accounts))
    assert {o.origin: o.start for o in replay(shared, context).outcomes} == {
        1: 0, 2: 200, 3: 100}


@pytest.fixture()
def sharing(tmp_path: Path) -> Path:
    path = tmp_path / "sharing.swf"
    path.write_text("\n".join(SHARING) + "\n")
    return path


def test_weights_on_the_command_line_turn_on_multifactor(
        sharing: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert corral(["sim", str(sharing), "--policy", "fifo", "--weights", "fairshare=10000",
                   "--output", str(out), "--no-progress"]) == 0
    stdout = capsys.readouterr().out
    assert "priority/multifactor (age=0, fairshare=10000" in stdout
    assert "each trace group is an account" in stdout
    assert _starts(json.loads((out / "results.json").read_text())) == {1: 0, 2: 200, 3: 100}


def test_the_config_files_scheduler_section_is_the_replays_policy(
        sharing: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "cluster.toml"
    config.write_text('[scheduler]\nbackfill = "fifo"\npriority_type = "multifactor"\n'
                      "weight_fairshare = 5000\n")
    out = tmp_path / "out"
    assert corral(["sim", str(sharing), "--config", str(config), "--output", str(out),
                   "--no-progress"]) == 0
    stdout = capsys.readouterr().out
    assert [line.split()[0] for line in stdout.splitlines()
            if line.split()[:1] in (["easy"], ["fifo"], ["conservative"])] == ["fifo"]
    document = json.loads((out / "results.json").read_text())
    assert [p["policy"] for p in document["policies"]] == ["fifo"]
    assert _starts(document) == {1: 0, 2: 200, 3: 100}
    # --weights overrides the file: no fair-share weight, so job ids decide again.
    assert corral(["sim", str(sharing), "--config", str(config), "--weights",
                   "fairshare=0,age=1", "--output", str(out), "--no-progress"]) == 0
    assert _starts(json.loads((out / "results.json").read_text())) == {1: 0, 2: 100, 3: 200}


@pytest.mark.parametrize(("weights", "message"), [
    ("speed=3", "invalid --weights entry 'speed=3'"),
    ("age", "invalid --weights entry 'age'"),
    ("age=lots", "'lots' is not a number"),
    ("qos=-1", "weights are not negative"),
])
def test_bad_weights_are_one_line_errors(sharing: Path, weights: str, message: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert corral(["sim", str(sharing), "--weights", weights]) == 1
    err = capsys.readouterr().err
    assert err.startswith("corral sim: error: ") and message in err and err.count("\n") == 1


def test_node_features_survive_jobs_ending_on_them() -> None:
    # Two 1-core nodes, only the second "fast". Both jobs ask for a fast node: the second
    # starts when the first ends, on the same node, which must still be fast then.
    nodes = make_nodes(2, 1, features={"node0002": frozenset({"fast"})})
    jobs = []
    for job_id in (1, 2):
        job = make_job(job_id, 0, DEFAULT_PARTITION, nodes=1, tasks=1, time_limit=10,
                       user="u", account="a")
        jobs.append(replace(job, spec=replace(job.spec, constraint="fast")))
    work = Workload(Machine(nodes, {DEFAULT_PARTITION.name: DEFAULT_PARTITION}),
                    [Request(j, 300, j.job_id, 1, "u", "a") for j in jobs], "features")
    done = replay(work, "easy")
    assert [(o.job_id, o.start, o.hosts) for o in done.outcomes] == [
        (1, 0, ("node0002",)), (2, 300, ("node0002",))]
    assert not done.never_started


def _history(tmp_path: Path) -> str:
    """An accounting database as the controller leaves it: the SHARING jobs, run one after
    the other by job id on one 1-core node, under a tree with users u1 and u2 in accounts
    a1 and a2."""
    from corral.model.account_codec import tree_to_dict
    from corral.model.states import JobState
    from corral.sim.workload import flat_tree
    from corral.store.store import Store, sqlite_url

    url = sqlite_url(tmp_path)
    store = Store.open(url)
    try:
        store.save_node("node0001", {"name": "node0001", "cpus": 1, "memory": 1000, "gpus": 0,
                                     "gpu_type": None})
        store.save_accounts(tree_to_dict(flat_tree([("a1", "u1"), ("a2", "u2")])))
        ran = []
        for job_id, submit, user, account in ((1, 0, "u1", "a1"), (2, 0, "u1", "a1"),
                                              (3, 1, "u2", "a2")):
            job = make_job(job_id, submit, DEFAULT_PARTITION, nodes=1, tasks=1, time_limit=4,
                           user=user, account=account)
            start = 100.0 * (job_id - 1)
            ran.append((replace(job, state=JobState.COMPLETED, start_time=start,
                                end_time=start + 100), True))
        store.commit(ran)
    finally:
        store.close()
    return url


def test_accounting_replays_under_the_saved_tree_with_changed_weights(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = _history(tmp_path)
    out = tmp_path / "out"
    assert corral(["sim", "--from-accounting", "--db", url, "--policy", "fifo",
                   "--output", str(out), "--no-progress"]) == 0
    assert _starts(json.loads((out / "results.json").read_text())) == {1: 0, 2: 100, 3: 200}
    assert corral(["sim", "--from-accounting", "--db", url, "--policy", "fifo",
                   "--weights", "fairshare=10000", "--output", str(out), "--no-progress"]) == 0
    document = json.loads((out / "results.json").read_text())
    assert _starts(document) == {1: 0, 2: 200, 3: 100}
    assert {r["account"] for r in document["policies"][0]["records"]} == {"a1", "a2"}
    # Twice the nodes: jobs 1 and 2 start at once, and job 3 waits for one of them.
    assert corral(["sim", "--from-accounting", "--db", url, "--nodes", "2", "--policy", "fifo",
                   "--output", str(out), "--no-progress"]) == 0
    assert _starts(json.loads((out / "results.json").read_text())) == {1: 0, 2: 0, 3: 100}
    assert "3 jobs on 2 nodes of 1 core" in capsys.readouterr().out
