"""Partition, association and QOS limits: the reason a held-back job shows, and submit refusals."""

from __future__ import annotations

from dataclasses import replace

from corral.core.cycle import run_cycle
from corral.core.decisions import SchedulingContext
from corral.core.limits import POLICY_VIOLATION, check_submit, count
from corral.model.accounts import NO_LIMITS, Account, AccountTree, Association, Limits, Qos, User
from corral.model.cluster import NodeResources, Partition
from corral.model.job import Job, JobSpec, NodeAllocation
from corral.model.states import JobState, Reason

MAIN = Partition("main", all_nodes=True, default=True)
PARTS = {"main": MAIN}


def nodes(n: int = 4, cpus: int = 8, gpus: int = 4) -> dict[str, NodeResources]:
    return {f"n{i}": NodeResources(f"n{i}", cpus, 64000, gpus, "a100", cpus, 64000,
                                   tuple(range(gpus))) for i in range(n)}


def accounts(*, lab: Limits = NO_LIMITS, alice: Limits = NO_LIMITS,
             qos: dict[str, Qos] | None = None) -> AccountTree:
    accts = {"root": Account("root", None), "phys": Account("phys"),
             "lab": Account("lab", "phys", limits=lab)}
    assoc = {("lab", "alice"): Association("alice", "lab", limits=alice),
             ("lab", "bob"): Association("bob", "lab"), ("phys", "carol"): Association("carol", "phys")}
    return AccountTree(accts, assoc, {u: User(u, a) for a, u in assoc},
                       qos or {"normal": Qos("normal")})


def job(job_id: int, user: str = "alice", *, cpus: int = 1, gpus: int = 0, limit: int = 10,
        qos: str | None = None, account: str | None = None, nodes: int = 1) -> Job:
    spec = JobSpec(name="j", uid=1, gid=1, user=user, group="g", work_dir="/", qos=qos,
                   account=account, cpus_per_task=cpus, gpus_per_node=gpus, num_nodes=nodes)
    return Job(job_id, spec, JobState.PENDING, float(job_id), "main", 1000, limit)


def running(j: Job, node: str, start: float = 0.0) -> Job:
    a = NodeAllocation(j.spec.cpus_per_task, 1000, tuple(range(j.spec.gpus_per_node)))
    return replace(j, state=JobState.RUNNING, allocation={node: a}, start_time=start)


def view(busy: list[Job]) -> dict[str, NodeResources]:
    out = nodes()
    for j in busy:
        for name, a in j.allocation.items():
            n = out[name]
            out[name] = replace(n, free_cpus=n.free_cpus - a.cpus, free_memory=n.free_memory - a.memory,
                                free_gpus=tuple(g for g in n.free_gpus if g not in a.gpu_indices),
                                idle=False)
    return out


def cycle(pending: list[Job], busy: list[Job], tree: AccountTree):  # type: ignore[no-untyped-def]
    return run_cycle(pending, busy, view(busy), PARTS, 100.0, SchedulingContext(accounts=tree))


def test_qos_max_jobs_per_user_holds_the_second_job_including_ones_started_this_pass() -> None:
    tree = accounts(qos={"normal": Qos("normal", max_jobs_per_user=1)})
    result = cycle([job(1), job(2), job(3, "bob")], [], tree)
    assert sorted(s.job_id for s in result.starts) == [1, 3]
    assert result.reasons == {2: Reason.QOS_MAX_JOBS_PER_USER}
    assert "MaxJobsPerUser" in result.details[2]
    assert result.stats.limited == 1


def test_max_jobs_is_inherited_from_the_nearest_account() -> None:
    tree = accounts(lab=Limits(max_jobs=1))
    result = cycle([job(2), job(3, "bob")], [running(job(1), "n0")], tree)
    assert result.reasons[2] is Reason.ASSOC_MAX_JOBS
    assert [s.job_id for s in result.starts] == [3]  # MaxJobs counts per user
    own = accounts(lab=Limits(max_jobs=1), alice=Limits(max_jobs=3))
    assert 2 in {s.job_id for s in cycle([job(2)], [running(job(1), "n0")], own).starts}


def test_grp_tres_caps_the_whole_subtree_and_ignores_jobs_without_that_tres() -> None:
    tree = accounts(lab=Limits(grp_tres={"gres/gpu": 4}))
    busy = [running(job(1, gpus=2), "n0"), running(job(2, "bob", gpus=2), "n1")]
    result = cycle([job(3, gpus=1), job(4, "bob", cpus=2), job(5, "carol", gpus=1)], busy, tree)
    assert result.reasons == {3: Reason.ASSOC_GRP_GRES}
    assert {s.job_id for s in result.starts} == {4, 5}  # carol is outside lab


def test_qos_max_tres_per_user_and_grp_jobs() -> None:
    tree = accounts(qos={"normal": Qos("normal", max_tres_per_user={"cpu": 4}, grp_jobs=3)})
    result = cycle([job(1, cpus=3), job(2, cpus=2), job(3, "bob"), job(4, "carol"),
                    job(5, "carol")], [], tree)
    assert result.reasons[2] is Reason.QOS_MAX_CPU_PER_USER
    assert result.reasons[5] is Reason.QOS_GRP_JOBS
    assert {s.job_id for s in result.starts} == {1, 3, 4}


def test_wall_and_per_job_limits_give_their_reason() -> None:
    tree = accounts(lab=Limits(max_wall=30, max_tres_per_job={"node": 1}),
                    qos={"normal": Qos("normal"), "short": Qos("short", max_wall=5)})
    result = cycle([job(1, limit=60), job(2, qos="short"), job(3, nodes=2)], [], tree)
    assert result.reasons == {1: Reason.ASSOC_MAX_WALL, 2: Reason.QOS_MAX_WALL,
                              3: Reason.ASSOC_MAX_NODE_PER_JOB}


def test_unknown_account_or_qos_and_partition_access_are_pending_reasons() -> None:
    tree = accounts()
    parts = {"main": replace(MAIN, allow_accounts=frozenset({"phys"}))}
    result = run_cycle([job(1, account="nope"), job(2, qos="gold"), job(3), job(4, "carol")],
                       [], nodes(), parts, 0.0, SchedulingContext(accounts=tree))
    assert result.reasons == {1: Reason.INVALID_ACCOUNT, 2: Reason.INVALID_QOS,
                              3: Reason.ACCOUNT_NOT_ALLOWED}
    assert [s.job_id for s in result.starts] == [4]


def test_submit_refuses_what_could_never_run() -> None:
    tree = accounts(lab=Limits(max_wall=30, grp_tres={"gres/gpu": 2}),
                    qos={"normal": Qos("normal"), "debug": Qos("debug", max_submit_jobs_per_user=1)})
    assert check_submit(job(1), tree, MAIN) is None
    refused = check_submit(job(1, account="nope"), tree, MAIN)
    assert refused is not None and refused.summary.startswith("Invalid account")
    refused = check_submit(job(1, qos="gold"), tree, MAIN)
    assert refused is not None and refused.summary == "Invalid qos specification"
    refused = check_submit(job(1, limit=60), tree, MAIN)
    assert refused is not None and refused.summary == POLICY_VIOLATION
    refused = check_submit(job(1, gpus=4), tree, MAIN)  # more GPUs than the lab may ever use
    assert refused is not None and "gres/gpu=2" in refused.detail
    counts = count(tree, [job(7, qos="debug")])
    refused = check_submit(job(8, qos="debug"), tree, MAIN, counts)
    assert refused is not None and "MaxSubmitJobsPerUser" in refused.detail
    assert check_submit(job(8, "bob", qos="debug"), tree, MAIN, counts) is None
    closed = replace(MAIN, allow_qos=frozenset({"debug"}))
    refused = check_submit(job(9), tree, closed)
    assert refused is not None and "QOS not permitted" in refused.detail


def test_max_submit_jobs_counts_pending_and_running() -> None:
    tree = accounts(alice=Limits(max_submit_jobs=2))
    counts = count(tree, [job(1), running(job(2), "n0")])
    refused = check_submit(job(3), tree, MAIN, counts)
    assert refused is not None and "MaxSubmitJobs" in refused.detail
    assert check_submit(job(3), tree, MAIN, count(tree, [job(1)])) is None


def test_account_tree_checks_itself_and_resolves_defaults() -> None:
    import pytest

    with pytest.raises(ValueError, match="unknown parent"):
        AccountTree({"root": Account("root", None), "x": Account("x", "nope")})
    with pytest.raises(ValueError, match="default account"):
        AccountTree({"root": Account("root", None)}, {}, {"eve": User("eve", "root")})
    tree = accounts(qos={"normal": Qos("normal"), "gold": Qos("gold")})
    alice = tree.association("alice", None)
    assert alice is not None and alice.account == "lab"
    assert tree.ancestors("lab") == ("lab", "phys", "root")
    assert tree.qos_for(alice, None) == Qos("normal")
    limited = AccountTree(dict(tree.accounts, lab=replace(tree.accounts["lab"], qos=frozenset({"normal"}))),
                          tree.associations, tree.users, tree.qos)
    assert limited.qos_for(alice, "gold") is None
