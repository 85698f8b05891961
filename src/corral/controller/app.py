"""The controller's REST API (/api/v1) and its scheduling loop, wired by create_app()."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import grp
import json
import logging
import math
import pwd
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, replace
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from corral import __version__
from corral.api.schemas import (
    AccountAdmin,
    AgentLoad,
    AgentRegistration,
    AgentReports,
    AllocationEnd,
    CancelRequest,
    JobUpdate,
    NodeUpdate,
    SubmitRequest,
)
from corral.controller.auth import (
    Caller,
    job_caller,
    job_identity,
    peer_caller,
    refuse_unknown,
    require_agent,
    user_name,
)
from corral.controller.idempotency import IdempotentReplies
from corral.controller.jobs import JobManager
from corral.controller.jobtoken import token_key
from corral.controller.nodes import Node, NodeRegistry
from corral.controller.records import job_record, node_record, partition_record
from corral.controller.steps_api import router as steps_router
from corral.controller.validation import check_submission
from corral.model.errors import (
    InvalidRequest,
    InvalidTransition,
    NotFound,
    UserError,
)
from corral.model.job import Job, JobSpec
from corral.settings import ControllerSettings
from corral.store.store import Store

log = logging.getLogger("corral.controller")


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


# Passes over fewer jobs than this are decided in the event loop (they take milliseconds).
INLINE_PASS = 2000


class Controller:
    """Holds the live state and runs the scheduling loop; the routes below call into it."""

    def __init__(self, settings: ControllerSettings, store: Store, clock: Callable[[], float]) -> None:
        if not settings.job_token_key:
            settings = replace(settings, job_token_key=token_key(settings.data_dir))
        self.settings = settings
        self.store = store
        self.clock = clock
        self.registry = NodeRegistry(Node.restore(r) for r in store.load_nodes().values())
        self.wake = asyncio.Event()
        self.jobs = JobManager(settings, store, self.registry, clock, on_change=self.wake.set)
        self.jobs.load()
        # The loaded queue lives as long as the controller: keep it out of the collector's
        # scans, which would otherwise walk 100k jobs during every big scheduling pass.
        gc.freeze()
        self.hostname = socket.gethostname()
        self.record_cache: dict[int, tuple[Job, bytes]] = {}

    async def scheduling_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.settings.schedule_interval)
            self.wake.clear()
            await asyncio.sleep(0)  # let submits that arrived together land in one pass
            try:
                plan = self.jobs.plan_pass()
                if len(plan.candidates) + len(plan.active) < INLINE_PASS:
                    result = self.jobs.decide(plan)  # a few ms: no thread hand-off delay
                else:
                    # A big pass runs beside the event loop, so that the API keeps answering.
                    result = await asyncio.to_thread(self.jobs.decide, plan)
                self.jobs.apply_pass(plan, result)
                self.jobs.purge()
                for job_id in self.record_cache.keys() - self.jobs.jobs.keys():
                    del self.record_cache[job_id]
            except Exception:
                log.exception("scheduling pass failed")
                await asyncio.sleep(1)

    def caller(self, request: Request) -> Caller:
        """The user behind a request (controller/auth.py); 401 when it names none."""
        state = request.scope.get("state") or {}
        uid = state.get("peer_uid")
        if uid is not None:
            return peer_caller(int(uid), int(state["peer_gid"]), self.settings.operators)
        job_id = request.headers.get("x-corral-job-id", "")
        token = request.headers.get("x-corral-job-token")
        if token:
            job = self.jobs.jobs.get(int(job_id)) if job_id.isdigit() else None
            return job_caller(job, token, self.settings.job_token_key)
        raise refuse_unknown(request, self.settings.cluster_key)

    def encoded_record(self, job: Job) -> bytes:
        """A job's record as JSON, re-encoded only when the job changed: squeue over a queue of
        10,000 jobs would otherwise spend most of its time here."""
        cached = self.record_cache.get(job.job_id)
        if cached is not None and cached[0] is job:
            return cached[1]
        encoded = json.dumps(job_record(job), separators=(",", ":")).encode()
        self.record_cache[job.job_id] = (job, encoded)
        return encoded

    def require_key(self, request: Request) -> None:
        require_agent(request, self.settings.cluster_key)

    def node_records(self) -> list[dict[str, Any]]:
        now = self.clock()
        active = [j for j in self.jobs.jobs.values() if j.state.is_active]
        views = self.jobs.nodes_view(active, now)
        records = []
        for name, node in sorted(self.registry.nodes.items()):
            parts = [p.name for p in self.settings.partitions if p.contains(name)]
            records.append(node_record(node, views[name], parts,
                                       node.responding(now, self.settings.node_timeout)))
        return records


def more_ids(pending_tasks: dict[int, set[int]]) -> list[str]:
    ids = [str(meta) for meta in pending_tasks]
    return ids + [f"{meta}_{t}" for meta, tasks in pending_tasks.items() for t in tasks]


def _job_ids(text: str | None) -> list[int]:
    if not text:
        return []
    ids = []
    for item in text.split(","):
        base = item.split("_")[0].split(".")[0].strip()
        if not base.isdigit():
            raise InvalidRequest(f"Invalid job id specified: {item}")
        ids.append(int(base))
    return ids


async def _disconnected(request: Request) -> None:
    """Returns when the client hangs up (a GET's only body message comes first)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def create_app(settings: ControllerSettings, store: Store, clock: Callable[[], float]) -> FastAPI:
    holder: dict[str, Controller] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        controller = Controller(settings, store, clock)
        holder["c"] = controller
        app.state.controller = controller
        loop_task = asyncio.create_task(controller.scheduling_loop())
        controller.wake.set()
        yield
        loop_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop_task

    app = FastAPI(title="corral", version=__version__, lifespan=lifespan,
                  openapi_url="/api/v1/openapi.json", docs_url="/api/v1/docs", redoc_url=None)
    app.add_middleware(IdempotentReplies)
    app.include_router(steps_router)  # before /jobs/{job_id}/{action}, which would match

    def ctl() -> Controller:
        return holder["c"]

    def authenticated(request: Request) -> Caller:
        return ctl().caller(request)

    named = Depends(authenticated)  # every route but the health check names its caller

    @app.exception_handler(UserError)
    async def user_error(_: Request, exc: UserError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    async def database_down(_: Request, exc: Exception) -> JSONResponse:
        # Nothing was committed (each change is one transaction): the client may simply retry.
        log.warning("database unavailable: %s", str(exc).splitlines()[0] if str(exc) else exc)
        return JSONResponse({"detail": "database unavailable, retry"}, status_code=503,
                            headers={"Retry-After": "5"})

    for outage in (OperationalError, InterfaceError, PoolTimeout):
        app.add_exception_handler(outage, database_down)

    @app.exception_handler(InvalidTransition)
    async def bad_transition(_: Request, exc: InvalidTransition) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}"
                             for e in exc.errors())
        return JSONResponse({"detail": f"invalid request: {problems}"}, status_code=422)

    # -- users ---------------------------------------------------------------------------------

    @app.get("/api/v1/ping")
    async def ping() -> dict[str, Any]:
        return {"status": "UP", "controller": ctl().hostname, "version": __version__}

    @app.get("/api/v1/whoami")
    async def whoami(caller: Caller = named) -> dict[str, Any]:
        return {"uid": caller.uid, "gid": caller.gid, "user": caller.user,
                "operator": caller.operator, "job": caller.job_scope}

    @app.post("/api/v1/jobs")
    async def submit(body: SubmitRequest, test_only: int = 0, caller: Caller = named) -> dict[str, Any]:
        c = ctl()
        check_submission(body, caller)
        uid, gid = job_identity(caller, body.uid, body.gid)
        fields = body.model_dump(exclude={"uid", "gid"})
        spec = JobSpec(**{**fields, "argv": tuple(body.argv), "req_nodes": tuple(body.req_nodes),
                          "exc_nodes": tuple(body.exc_nodes)},
                       uid=uid, gid=gid, user=user_name(uid), group=_group_name(gid))
        job = c.jobs.submit(spec, caller, test_only=bool(test_only))
        if not test_only:
            return {"job_id": job.job_id}
        result = c.jobs.test_only(job)
        start = next((s for s in result.starts if s.job_id == job.job_id), None)
        if start is not None:
            return {"job_id": job.job_id, "partition": job.partition, "cpus": job.num_cpus,
                    "start_time": c.clock(), "nodes": list(start.allocation)}
        # It cannot start now: where and when the pass reserved for it (Slurm's will_run).
        held = next((r for r in result.reservations if r.job_id == job.job_id), None)
        when = result.estimates.get(job.job_id)
        if when is None and held is not None and held.start != math.inf:
            when = held.start
        return {"job_id": job.job_id, "partition": job.partition, "cpus": job.num_cpus,
                "start_time": when, "nodes": sorted(held.nodes) if held else []}

    @app.get("/api/v1/jobs", response_model=list[dict[str, Any]])
    async def list_jobs(user: str | None = None, job_id: str | None = None,
                        state: str | None = None, partition: str | None = None,
                        _: Caller = named) -> Response:
        c = ctl()
        jobs = c.jobs.select(job_ids=_job_ids(job_id), user=user,
                             states=state.split(",") if state else (), partition=partition)
        encoded = [c.encoded_record(j) for j in sorted(jobs, key=lambda j: j.job_id)]
        return Response(b"[" + b",".join(encoded) + b"]", media_type="application/json")

    @app.get("/api/v1/jobs/{job_id}")
    async def get_job(job_id: int, _: Caller = named) -> dict[str, Any]:
        return job_record(ctl().jobs.get(job_id))

    @app.post("/api/v1/jobs/cancel")
    async def cancel(body: CancelRequest, caller: Caller = named) -> dict[str, Any]:
        c = ctl()
        if not body.job_ids and not (body.user or body.name or body.states or body.partition):
            raise InvalidRequest("No job identification provided")
        filters = {"user": body.user, "name": body.name, "states": body.states,
                   "partition": body.partition}
        if body.job_ids:
            jobs, pending_tasks = c.jobs.resolve(body.job_ids)
            allowed = {j.job_id for j in c.jobs.select(**filters)}
            jobs = [j for j in jobs if j.job_id in allowed]
        else:
            jobs, pending_tasks = c.jobs.select(**filters), {}
        done, errors = c.jobs.cancel(jobs, caller, body.signal, body.batch_only)
        if body.signal is None or body.signal == 9:
            more, more_errors = c.jobs.cancel_pending_tasks(pending_tasks, caller)
            done, errors = [*done, *more], [*errors, *more_errors]
        found = {str(j.job_id) for j in jobs} | {str(j.array_job_id) for j in jobs} \
            | {f"{j.array_job_id}_{j.array_task_id}" for j in jobs} | set(more_ids(pending_tasks))
        errors += [{"job_id": str(i), "error": "Invalid job id specified"}
                   for i in body.job_ids if str(i) not in found and "[" not in str(i)]
        return {"cancelled": done, "errors": errors}

    @app.post("/api/v1/jobs/{job_id}/complete")  # before /{action}, which would match
    async def end_allocation(job_id: int, body: AllocationEnd,
                             caller: Caller = named) -> dict[str, Any]:
        return job_record(ctl().jobs.end_allocation(job_id, caller, body.exit_code,
                                                    body.exit_signal))

    @app.post("/api/v1/jobs/{job_id}/{action}")
    async def job_action(job_id: int, action: str, caller: Caller = named) -> dict[str, Any]:
        c = ctl()
        verbs = {"hold": c.jobs.hold, "release": c.jobs.release, "requeue": c.jobs.requeue}
        if action not in verbs:
            raise NotFound(f"unknown action {action}")
        return job_record(verbs[action](job_id, caller))

    @app.patch("/api/v1/jobs/{job_id}")
    async def update_job(job_id: int, body: JobUpdate, caller: Caller = named) -> dict[str, Any]:
        c = ctl()
        changes = body.model_dump(exclude_unset=True, exclude={"clear_time_limit"})
        if body.clear_time_limit:
            changes["time_limit"] = None
        if not changes:
            raise InvalidRequest("No changes specified")
        return job_record(c.jobs.update(job_id, changes, caller))

    @app.get("/api/v1/accounting/jobs")
    async def accounting(user: str | None = None, all_users: int = 0,
                         job_id: str | None = None, start: float | None = None,
                         end: float | None = None, state: str | None = None,
                         caller: Caller = named) -> list[dict[str, Any]]:
        c = ctl()
        uid: int | None = caller.uid
        if all_users or job_id:
            uid = None
        if user:
            try:
                uid = pwd.getpwnam(user).pw_uid
            except KeyError:
                uid = int(user) if user.isdigit() else -1
        jobs = c.store.history(uid=uid, job_ids=_job_ids(job_id), start=start, end=end,
                               states=state.split(",") if state else ())
        live = c.jobs.jobs
        return [job_record(live.get(j.job_id, j)) for j in jobs]

    @app.get("/api/v1/jobs/{job_id}/events")
    async def job_events(job_id: int, _: Caller = named) -> list[dict[str, Any]]:
        return [asdict(e) for e in ctl().store.events_of(job_id)]

    # -- nodes and partitions -------------------------------------------------------------------

    @app.get("/api/v1/nodes")
    async def list_nodes(_: Caller = named) -> list[dict[str, Any]]:
        return ctl().node_records()

    @app.get("/api/v1/nodes/{name}")
    async def get_node(name: str, _: Caller = named) -> dict[str, Any]:
        for record in ctl().node_records():
            if record["name"] == name:
                return record
        raise NotFound(f"Node {name} not found")

    @app.patch("/api/v1/nodes/{name}")
    async def update_node(name: str, body: NodeUpdate, caller: Caller = named) -> dict[str, Any]:
        c = ctl()
        caller.require_operator()
        node = c.registry.nodes.get(name)
        if node is None:
            raise NotFound(f"Invalid node name specified: {name}")
        state = body.state.upper()
        if state in ("DRAIN", "DOWN") and not body.reason:
            raise InvalidRequest("You must specify a reason when DOWNING or DRAINING a node. "
                                 "Request denied")
        if state == "DRAIN":
            node.drain = True
        elif state == "DOWN":
            node.down = True
        elif state in ("RESUME", "UNDRAIN", "IDLE"):
            node.drain = node.down = False
        else:
            raise InvalidRequest(f"Invalid node state specified: {body.state}")
        node.reason = body.reason if state in ("DRAIN", "DOWN") else None
        node.reason_time = c.clock() if node.reason else None
        node.reason_uid = caller.uid if node.reason else None
        c.store.save_node(name, node.persistent())
        if state == "DOWN":
            c.jobs.node_failed(name, cause=f"down:{name}")  # Slurm kills a DOWN node's jobs
        c.wake.set()
        return next(r for r in c.node_records() if r["name"] == name)

    @app.get("/api/v1/partitions")
    async def list_partitions(_: Caller = named) -> list[dict[str, Any]]:
        c = ctl()
        nodes = sorted(c.registry.nodes.values(), key=lambda n: n.name)
        return [partition_record(p, [n for n in nodes if p.contains(n.name)])
                for p in settings.partitions]

    @app.get("/api/v1/config")
    async def config(_: Caller = named) -> dict[str, Any]:
        s = settings
        return {
            "ClusterName": s.cluster_name, "SLURM_VERSION": "22.05.8", "CORRAL_VERSION": __version__,
            "SlurmctldHost": f"{ctl().hostname}({s.host})", "SlurmctldPort": s.port,
            "DefMemPerCPU": s.def_mem_per_cpu, "KillWait": f"{int(s.kill_wait)} sec",
            "MinJobAge": f"{int(s.min_job_age)} sec", "SlurmdTimeout": f"{int(s.node_timeout)} sec",
            # backfill = "fifo" is Slurm's sched/builtin; easy and conservative are backfill.
            "SchedulerType": "sched/builtin" if s.policy.backfill == "fifo" else "sched/backfill",
            "SelectType": "select/cons_tres",
            "SelectTypeParameters": "CR_CORE_MEMORY",
            "PriorityType": f"priority/{s.policy.priority.type}",
            "SchedulerParameters": f"backfill={s.policy.backfill}",
            "PreemptMode": s.policy.preempt_mode.value,
            "AccountingStorageEnforce": "associations,limits,qos" if s.enforce_associations else "none",
            "AccountingStorageType": "accounting_storage/" + store.engine.dialect.name,
            "ProctrackType": "proctrack/corral-subreaper", "MaxArraySize": s.max_array_size,
            "FirstJobId": 1, "StateSaveLocation": str(s.data_dir),
        }

    # -- accounts, fair-share, priority -----------------------------------------------------

    @app.get("/api/v1/accounts")
    async def accounts(_: Caller = named) -> dict[str, Any]:
        return ctl().jobs.accounting.as_dict()

    @app.post("/api/v1/accounts/admin")
    async def account_admin(body: AccountAdmin, caller: Caller = named) -> dict[str, Any]:
        c = ctl()
        caller.require_operator("Your user doesn't have privilege to perform this action")
        result = c.jobs.accounting.admin({**body.model_dump(by_alias=True)})
        if result["changed"] and not body.dry_run:
            c.wake.set()  # limits, shares or QOS changed: decide again
        return result

    @app.get("/api/v1/shares")
    async def shares(_: Caller = named) -> dict[str, Any]:
        return ctl().jobs.accounting.shares()

    @app.get("/api/v1/priorities")
    async def priorities(user: str | None = None, job_id: str | None = None,
                         _: Caller = named) -> dict[str, Any]:
        return ctl().jobs.priority_factors(user=user, job_ids=_job_ids(job_id))

    @app.get("/api/v1/jobs/{job_id}/why")
    async def why(job_id: int, _: Caller = named) -> dict[str, Any]:
        return ctl().jobs.why(job_id)

    # -- agents ------------------------------------------------------------------------------

    @app.post("/api/v1/agents/register")
    async def register(body: AgentRegistration, request: Request) -> dict[str, Any]:
        c = ctl()
        c.require_key(request)
        now = c.clock()
        node = c.registry.nodes.get(body.name) or Node(body.name, body.cpus, body.memory)
        node.cpus, node.memory, node.gpus, node.gpu_type = body.cpus, body.memory, body.gpus, body.gpu_type
        node.facts = {"hostname": body.hostname, "arch": body.arch, "os": body.os,
                      "boot_time": body.boot_time, "version": body.version,
                      "addr": request.client.host if request.client else "",
                      "cgroup": body.cgroup, "enforced": body.enforced,
                      "gpu_devices": body.gpu_devices}
        node.connected, node.last_seen, node.registered_at = True, now, now
        node.load = {"cpu_load": body.cpu_load or 0.0, "free_memory": body.free_memory or 0}
        c.registry.nodes[body.name] = node
        c.registry.queue(body.name).reset()
        c.store.save_node(body.name, node.persistent())
        c.jobs.reconcile(body.name, body.jobs)
        c.wake.set()
        return {"ok": True}

    @app.get("/api/v1/agents/{name}/commands")
    async def commands(name: str, request: Request, ack: int = 0, wait: float = 20.0) -> dict[str, Any]:
        c = ctl()
        c.require_key(request)
        node = c.registry.nodes.get(name)
        if node is None or not node.connected:
            return JSONResponse({"detail": "register first"}, status_code=409)  # type: ignore[return-value]
        node.last_seen = c.clock()
        registered_at = node.registered_at
        queue = c.registry.queue(name)
        queue.ack(ack)
        if not queue.items:
            # Each poll is a sign of life: a poll lasts at most a third of SlurmdTimeout (as
            # Slurm pings its nodes), so a live agent is never taken for a silent one; and an
            # agent that hangs up mid-poll has died or stopped, and takes no job meanwhile.
            ready = asyncio.ensure_future(queue.ready.wait())
            gone = asyncio.ensure_future(_disconnected(request))
            try:
                await asyncio.wait({ready, gone}, timeout=min(wait, 30.0, settings.node_timeout / 3),
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                ready.cancel()
                gone.cancel()
            if gone.done() and not gone.cancelled():
                c.registry.connection_lost(name, registered_at)
                return {"commands": []}
        return {"commands": queue.hand_out()}

    @app.post("/api/v1/agents/{name}/reports")
    async def reports(name: str, body: AgentReports, request: Request) -> dict[str, Any]:
        c = ctl()
        c.require_key(request)
        c.jobs.agent_reports(name, body.reports)
        return {"ok": True}

    @app.post("/api/v1/agents/{name}/heartbeat")
    async def heartbeat(name: str, body: AgentLoad, request: Request) -> dict[str, Any]:
        c = ctl()
        c.require_key(request)
        node = c.registry.nodes.get(name)
        if node is not None:
            node.last_seen = c.clock()
            node.load = {k: v for k, v in body.model_dump().items() if v is not None}
        return {"ok": True}

    return app
