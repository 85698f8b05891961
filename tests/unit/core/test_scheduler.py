"""Preemption, and `corral why` explanations."""

from __future__ import annotations

from dataclasses import replace

from corral.core.cycle import run_cycle
from corral.core.decisions import SchedulingContext
from corral.core.explain import after, explain
from corral.core.preempt import Preemption
from corral.core.scheduler import Scheduler
from corral.model.accounts import PreemptMode, Qos, flat_tree
from corral.model.cluster import NodeResources, Partition
from corral.model.job import Job, JobSpec, NodeAllocation
from corral.model.states import JobState, Reason

MAIN = {"main": Partition("main", all_nodes=True, default=True)}
QOS = {"normal": Qos("normal"), "high": Qos("high", priority=10, preempt=frozenset({"low"})),
       "low": Qos("low", preempt_mode=PreemptMode.REQUEUE, grace_time=30)}
TREE = flat_tree({"u": "lab", "v": "lab"}, QOS)
CTX = SchedulingContext(accounts=TREE)


def nodes(n: int, cpus: int = 4) -> dict[str, NodeResources]:
    return {f"n{i}": NodeResources(f"n{i}", cpus, 4000, 0, None, cpus, 4000)
            for i in range(1, n + 1)}


def job(job_id: int, *, cpus: int = 1, nodes: int = 1, limit: int | None = 10, qos: str | None = None,
        user: str = "u", requeue: bool = True) -> Job:
    spec = JobSpec(name="j", uid=1, gid=1, user=user, group="g", work_dir="/", num_nodes=nodes,
                   cpus_per_task=cpus, qos=qos, requeue=requeue)
    return Job(job_id, spec, JobState.PENDING, float(job_id), "main", 100, limit)


def run(j: Job, node: str, start: float = 0.0) -> Job:
    alloc = {node: NodeAllocation(j.spec.cpus_per_task, 100)}
    return replace(j, state=JobState.RUNNING, allocation=alloc, start_time=start)


def occupy(view: dict[str, NodeResources], jobs: list[Job]) -> dict[str, NodeResources]:
    out = dict(view)
    for j in jobs:
        for name, a in j.allocation.items():
            n = out[name]
            out[name] = replace(n, free_cpus=n.free_cpus - a.cpus, free_memory=n.free_memory - a.memory,
                                idle=False)
    return out


def test_a_preempting_qos_requeues_the_fewest_lower_jobs_after_their_grace_time() -> None:
    busy = [run(job(90, cpus=2, qos="low"), "n1"), run(job(91, cpus=2, qos="low"), "n1", 5.0),
            run(job(92, cpus=4, qos="normal"), "n2")]
    result = run_cycle([job(1, cpus=2, qos="high"), job(2, cpus=2)], busy,
                       occupy(nodes(2), busy), MAIN, 100.0, CTX)
    # The most recently started low job goes; the normal one is not preemptible.
    assert result.preemptions == (Preemption(91, PreemptMode.REQUEUE, 1, 30),)
    assert result.starts == ()
    assert result.reasons[1] is Reason.RESOURCES and result.estimates[1] == 130.0
    assert result.reservations[0].nodes == frozenset({"n1"})
    assert "make room" in explain(result, job(1, cpus=2, qos="high"))


def test_a_job_that_may_not_be_requeued_is_cancelled_and_stopping_jobs_are_not_preempted_twice() -> None:
    busy = [run(job(90, cpus=4, qos="low", requeue=False), "n1")]
    first = run_cycle([job(1, cpus=4, qos="high")], busy, occupy(nodes(1), busy), MAIN, 0.0, CTX)
    assert first.preemptions == (Preemption(90, PreemptMode.CANCEL, 1, 30),)
    stopping = [replace(busy[0], state=JobState.COMPLETING)]
    again = run_cycle([job(1, cpus=4, qos="high")], stopping, occupy(nodes(1), busy), MAIN, 10.0, CTX)
    assert again.preemptions == () and again.estimates[1] == 10.0


def test_a_qos_without_preempt_never_preempts() -> None:
    busy = [run(job(90, cpus=4, qos="low"), "n1")]
    result = run_cycle([job(1, cpus=4)], busy, occupy(nodes(1), busy), MAIN, 0.0, CTX)
    assert result.preemptions == () and result.reasons[1] is Reason.RESOURCES


def test_explanations_say_why_in_plain_words() -> None:
    busy = [run(job(90, cpus=4, limit=10), "n1")]
    pending = [job(1, nodes=2, cpus=4), job(2, cpus=4, limit=60), job(3, cpus=1, limit=5),
               replace(job(4), held=True)]
    result = run_cycle(pending, busy, occupy(nodes(2), busy), MAIN, 0.0)
    top = explain(result, pending[0])
    assert "first job waiting in partition main" in top and "reserved for it starting in 10 min" in top
    assert "from in" not in top
    assert "waits behind higher-priority jobs" in explain(result, pending[1])
    assert "starts now on n2" in explain(result, pending[2])
    assert "held by its owner" in explain(result, pending[3])
    assert after(3 * 86400 + 7200) == "in 3 days 2 h" and after(0) == "now"


def test_a_begin_job_is_told_when_it_may_start() -> None:
    later = replace(job(5), spec=replace(job(5).spec, begin_time=7200.0))
    result = run_cycle([], [], nodes(1), MAIN, 0.0)
    seen = replace(result, reasons={5: Reason.BEGIN_TIME}, now=0.0)
    assert "may not start before its --begin time, in 2 h 00 min" in explain(seen, later)


def test_a_new_context_keeps_working_and_holds_back_what_it_names() -> None:
    sched = Scheduler(MAIN)
    sched.full_pass([job(1), job(2)], [], nodes(1), 0.0)
    sched.set_context(SchedulingContext(ineligible={3: Reason.DEPENDENCY}))
    result = sched.full_pass([job(3), job(4)], [], nodes(1), 1.0)
    assert result.reasons == {3: Reason.DEPENDENCY} and [s.job_id for s in result.starts] == [4]


def test_a_kept_scheduler_follows_its_running_jobs_when_the_node_set_changes() -> None:
    """n2 leaves and n3 (alike) comes: the running job's node moves in the pool's numbering,
    and what the scheduler remembers of it must move too."""
    sched = Scheduler(MAIN)
    busy = [run(job(90, cpus=4), "n1")]  # ends at 600 s
    wide = job(1, cpus=4, nodes=2)
    sched.full_pass([wide], busy, occupy(nodes(2), busy), 60.0)
    view = {"n3": NodeResources("n3", 4, 4000, 0, None, 4, 4000), **occupy(nodes(1), busy)}
    result = sched.full_pass([wide], busy, view, 60.0)
    assert [(r.start, sorted(r.nodes)) for r in result.reservations] == [(600.0, ["n1", "n3"])]
