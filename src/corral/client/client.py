"""A lean, synchronous client of the controller's REST API.

The Slurm-style commands are run in loops by tools, so this module uses only the standard
library and a small HTTP/1.1 transport (corral.client.transport): importing httpx alone costs
~70 ms, and http.client ~30 ms.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from corral.client.locate import locate_controller
from corral.client.transport import Connection, TransportError

if TYPE_CHECKING:
    from corral.client.types import JobInfo, NodeInfo

JSON = Any


class ClientError(Exception):
    """The controller refused a request; `message` is its explanation, in Slurm's wording."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class InvalidRequest(ClientError, ValueError):
    """400/422: a malformed or unsatisfiable request (unknown partition, bad --time …)."""


class PermissionDenied(ClientError):
    """403: the job or node is not the caller's to change."""


class NotFound(ClientError):
    """404: no such job, node or partition."""


class JobNotFound(NotFound):
    """404 for a job id: "Invalid job id specified"."""


class Conflict(ClientError):
    """409: the object's state does not allow the change (e.g. releasing a running job)."""


_ERRORS: dict[int, type[ClientError]] = {400: InvalidRequest, 422: InvalidRequest,
                                         403: PermissionDenied, 404: NotFound, 409: Conflict}


class ControllerUnreachable(Exception):
    """No controller answered at `address`."""

    def __init__(self, address: str, cause: str) -> None:
        super().__init__(f"cannot reach the controller at {address}: {cause}")
        self.address = address
        self.cause = cause


class Client:
    """Talks to one controller. On its Unix socket the kernel names the caller; over TCP, inside
    a job, the job's token (CORRAL_JOB_TOKEN) does, for that job only."""

    def __init__(self, address: str, *, timeout: float = 30.0) -> None:
        self.address = address
        self._timeout = timeout
        self._headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
        self._conn: Connection | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> Client:
        env = os.environ if environ is None else environ
        local = env.get("CORRAL_SOCKET")
        if local and os.path.exists(local):
            return cls(local, **kwargs)  # inside a job on the controller's host
        client = cls(locate_controller(env), **kwargs)
        if env.get("CORRAL_JOB_TOKEN") and env.get("SLURM_JOB_ID"):
            client._headers["X-Corral-Job-Id"] = env["SLURM_JOB_ID"]
            client._headers["X-Corral-Job-Token"] = env["CORRAL_JOB_TOKEN"]
        return client

    def _connection(self) -> Connection:
        if self._conn is None:
            if self.address.startswith("https://"):
                raise ControllerUnreachable(self.address, "https is not supported by this client yet")
            if self.address.startswith("http://"):
                parts = urlsplit(self.address)
                self._conn = Connection(host=parts.hostname or "localhost", port=parts.port or 80,
                                        timeout=self._timeout)
            else:
                self._conn = Connection(unix_path=self.address, timeout=self._timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, body: JSON = None,
                query: Mapping[str, Any] | None = None) -> JSON:
        url = "/api/v1" + path
        if query:
            clean = {k: v for k, v in query.items() if v is not None}
            if clean:
                url += "?" + urlencode(clean)
        payload = None if body is None else json.dumps(body).encode()
        headers = self._headers
        if method != "GET":
            # The transport may send it twice (a kept-alive socket the controller closed): the
            # key makes the controller answer a repeat with the first reply instead of acting again.
            headers = {**headers, "Idempotency-Key": os.urandom(16).hex()}
        try:
            status, reason, data = self._connection().request(method, url, payload, headers)
        except (OSError, TransportError) as exc:
            self.close()
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ControllerUnreachable(self.address, why or exc.__class__.__name__) from None
        try:
            decoded = json.loads(data) if data else None
        except ValueError:
            decoded = None
        if status >= 400:
            detail = decoded.get("detail") if isinstance(decoded, dict) else None
            if not isinstance(detail, str):
                detail = json.dumps(detail) if detail is not None else reason
            kind = _ERRORS.get(status, ClientError)
            if kind is NotFound and path.startswith("/jobs"):
                kind = JobNotFound
            raise kind(status, detail)
        return decoded

    # -- the verbs the commands use -------------------------------------------------------

    def ping(self) -> JSON:
        return self.request("GET", "/ping")

    def whoami(self) -> JSON:
        return self.request("GET", "/whoami")

    def submit(self, request: Mapping[str, Any], *, test_only: bool = False) -> JSON:
        return self.request("POST", "/jobs", dict(request), {"test_only": 1 if test_only else None})

    def jobs(self, *, user: str | None = None, job_ids: list[str] | None = None,
             states: list[str] | None = None, partition: str | None = None) -> list[JSON]:
        query = {"user": user, "partition": partition,
                 "job_id": ",".join(job_ids) if job_ids else None,
                 "state": ",".join(states) if states else None}
        return list(self.request("GET", "/jobs", query=query))

    def job(self, job_id: int | str) -> JSON:
        return self.request("GET", f"/jobs/{job_id}")

    def cancel(self, **selection: Any) -> JSON:
        return self.request("POST", "/jobs/cancel", selection)

    def hold(self, job_id: int | str) -> JSON:
        return self.request("POST", f"/jobs/{job_id}/hold")

    def release(self, job_id: int | str) -> JSON:
        return self.request("POST", f"/jobs/{job_id}/release")

    def end_allocation(self, job_id: int | str, exit_code: int = 0, exit_signal: int = 0) -> JSON:
        """An allocation's command ended with this status (salloc, srun outside a job)."""
        return self.request("POST", f"/jobs/{job_id}/complete",
                            {"exit_code": exit_code, "exit_signal": exit_signal})

    def requeue(self, job_id: int | str) -> JSON:
        return self.request("POST", f"/jobs/{job_id}/requeue")

    def update_job(self, job_id: int | str, fields: Mapping[str, Any]) -> JSON:
        return self.request("PATCH", f"/jobs/{job_id}", dict(fields))

    def history(self, *, user: str | None = None, all_users: bool = False,
                job_ids: list[str] | None = None, start: float | None = None,
                end: float | None = None, states: list[str] | None = None) -> list[JSON]:
        query = {"user": user, "all_users": 1 if all_users else None,
                 "job_id": ",".join(job_ids) if job_ids else None,
                 "start": start, "end": end, "state": ",".join(states) if states else None}
        return list(self.request("GET", "/accounting/jobs", query=query))

    def nodes(self) -> list[JSON]:
        return list(self.request("GET", "/nodes"))

    def update_node(self, name: str, fields: Mapping[str, Any]) -> JSON:
        return self.request("PATCH", f"/nodes/{name}", dict(fields))

    def partitions(self) -> list[JSON]:
        return list(self.request("GET", "/partitions"))

    def config(self) -> JSON:
        return self.request("GET", "/config")

    # -- accounts, fair-share and priority (sacctmgr, sshare, sprio, corral why) --------

    def accounts(self) -> JSON:
        """The account tree: accounts, users, associations and QOS (model.account_codec)."""
        return self.request("GET", "/accounts")

    def account_admin(self, request: Mapping[str, Any]) -> JSON:
        """One sacctmgr add/modify/delete: {"message": str, "changed": bool}."""
        return self.request("POST", "/accounts/admin", dict(request))

    def shares(self) -> JSON:
        """sshare's rows: {"algorithm": str, "rows": [...]}, every association in tree order."""
        return self.request("GET", "/shares")

    def priorities(self, *, job_ids: list[str] | None = None, user: str | None = None) -> JSON:
        """sprio's factors of pending jobs: {"type", "weights", "jobs": [...]}."""
        query = {"user": user, "job_id": ",".join(job_ids) if job_ids else None}
        return self.request("GET", "/priorities", query=query)

    def why(self, job_id: int | str) -> JSON:
        """Why a job waits, in plain words: {"job_id", "state", "reason", "text"}."""
        return self.request("GET", f"/jobs/{job_id}/why")

    # -- the typed API (corral.client.types loads on first use, never for the commands) ---

    def submit_job(self, command: str | Sequence[str] | None = None, *,
                   script: str | None = None, name: str | None = None,
                   partition: str | None = None, nodes: int = 1, ntasks: int = 1,
                   cpus_per_task: int = 1, mem: str | int | None = None,
                   time: str | int | None = None, gpus: int = 0, array: str | None = None,
                   dependency: str | None = None, environment: Mapping[str, str] | None = None,
                   work_dir: str | None = None, output: str | None = None,
                   error: str | None = None, hold: bool = False, **extra: Any) -> JobInfo:
        """Submits a batch job, as `sbatch --wrap COMMAND` or `sbatch` of a SCRIPT would.

        `mem` is a Slurm size ("2G", "500M") or MiB, `time` a Slurm time ("1:30:00", "2-0")
        or minutes, `gpus` GPUs per node. Without `environment` the job gets this process's
        environment and without `work_dir` its working directory, as with sbatch. `extra`
        takes any other field of the submit body (account, qos, exclusive, begin_time …).
        Raises InvalidRequest with Slurm's message when the controller refuses the job.
        """
        from corral.client.submission import submit_body
        body = submit_body(command, script=script, name=name, partition=partition, nodes=nodes,
                           ntasks=ntasks, cpus_per_task=cpus_per_task, mem=mem, time=time,
                           gpus=gpus, array=array, dependency=dependency,
                           environment=environment, work_dir=work_dir, output=output,
                           error=error, hold=hold, **extra)
        return self.get_job(int(self.submit(body)["job_id"]))

    def get_job(self, job_id: int | str) -> JobInfo:
        """One job by id (`123`, or `123_4` for an array task), from the live queue or, once
        it has left it, from accounting. Raises JobNotFound for an id neither knows."""
        from corral.client.types import JobInfo
        base, _, task = str(job_id).partition("_")
        if not base.isdigit() or (task and not task.isdigit()):
            raise InvalidRequest(400, f"Invalid job id specified: {job_id}")
        if not task:
            try:
                return JobInfo.from_record(self.job(base))
            except NotFound:
                records = self.history(job_ids=[base])
                found = [r for r in records if str(r.get("job_id")) == base]
        else:
            live = self.jobs(job_ids=[base])
            found = [r for r in live if _names_task(r, int(base), int(task))]
            if not found:
                found = [r for r in self.history(job_ids=[base])
                         if _names_task(r, int(base), int(task))]
        if not found:
            raise JobNotFound(404, "Invalid job id specified")
        info = JobInfo.from_record(found[0])
        if task and info.array_task_id is None:
            # Still folded into the array's pending record: shown as that task, as squeue -r does.
            from dataclasses import replace
            info = replace(info, array_task_id=int(task), array_task_string=None)
        return info

    def list_jobs(self, user: str | None = None,
                  states: str | Sequence[str] | None = None) -> list[JobInfo]:
        """The live queue (what squeue shows), optionally one user's or in some states."""
        from corral.client.types import JobInfo
        wanted = [states] if isinstance(states, str) else list(states or [])
        return [JobInfo.from_record(r) for r in self.jobs(user=user, states=wanted or None)]

    def array_tasks(self, array_job_id: int | str) -> list[JobInfo]:
        """Every task of an array that has started or ended, plus the record of those still
        pending, ordered by task id; ended tasks come from accounting."""
        from corral.client.types import JobInfo
        ids = [str(array_job_id)]
        merged = {r["job_id"]: r for r in self.history(job_ids=ids)}
        merged.update((r["job_id"], r) for r in self.jobs(job_ids=ids))
        tasks = [JobInfo.from_record(r) for r in merged.values()]
        return sorted(tasks, key=lambda t: (t.array_task_id is None, t.array_task_id or 0))

    def cancel_job(self, job_id: int | str, signal: int | str | None = None) -> None:
        """scancel: `123`, `123_4` or `123_[1-3]`; `signal` (number or name such as "USR1")
        signals running jobs instead of cancelling. Raises JobNotFound for an unknown id and
        PermissionDenied for someone else's job; a job already ended is left as it is."""
        body: dict[str, Any] = {"job_ids": [str(job_id)]}
        if signal is not None:
            body["signal"] = _signal_number(signal)
        reply = self.cancel(**body)
        for problem in reply.get("errors") or []:
            text = str(problem.get("error", "")) if isinstance(problem, Mapping) else str(problem)
            if "Invalid job id" in text:
                raise JobNotFound(404, text)
            if "permission denied" in text.lower():
                raise PermissionDenied(403, text)
            raise Conflict(409, text)

    def wait(self, job_id: int | str, timeout: float | None = None,
             poll: float = 0.2) -> JobInfo:
        """Blocks until the job reaches a terminal state and returns its final record; for an
        array's id, until every task has ended (the array's own record is returned: see
        array_tasks for the others). Raises TimeoutError after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = self.get_job(job_id)
            whole_array = info.array_job_id is not None and info.array_job_id == info.job_id \
                and "_" not in str(job_id)
            if info.finished and not (whole_array and self._array_running(info.job_id)):
                return info
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} still {info.state} after {timeout} s")
            pause = poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic()))
            time.sleep(pause)

    def _array_running(self, array_job_id: int) -> bool:
        from corral.client.types import JobInfo
        return any(not JobInfo.from_record(r).finished
                   for r in self.jobs(job_ids=[str(array_job_id)]))

    def stream_logs(self, job_id: int | str, stream: str = "stdout", follow: bool = True,
                    poll: float = 0.2) -> Iterator[str]:
        """Lines (without their newline) of the job's output file, as the job writes them,
        until it ends; with `follow=False`, only what is written so far.

        The file is read where the job writes it, so this needs the job's output directory on
        a filesystem shared with the compute nodes (NFS, Lustre …), as on any Slurm cluster.
        """
        import codecs
        if stream not in ("stdout", "stderr"):
            raise ValueError(f"stream must be 'stdout' or 'stderr', not {stream!r}")
        info = self.get_job(job_id)
        while follow and info.state == "PENDING":
            time.sleep(poll)
            info = self.get_job(job_id)
        path = info.stdout if stream == "stdout" else info.stderr
        if path is None:
            return
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        handle = None
        try:
            while True:
                # The state is read before the file, so after an end the last read is complete.
                ended = not follow or info.finished
                if handle is None and os.path.exists(path):
                    handle = open(path, "rb")  # held across yields; closed below
                if handle is not None:
                    pending += decoder.decode(handle.read())
                    *lines, pending = pending.split("\n")
                    yield from lines
                if ended:
                    break
                time.sleep(poll)
                info = self.get_job(job_id)
            if handle is None and info.nodes and follow:
                raise FileNotFoundError(f"job {job_id} ran but {path} is not visible here: "
                                        "is its directory on a shared filesystem?")
            if pending:
                yield pending
        finally:
            if handle is not None:
                handle.close()

    def nodes_info(self) -> list[NodeInfo]:
        from corral.client.types import NodeInfo
        return [NodeInfo.from_record(r) for r in self.nodes()]


def _names_task(record: Mapping[str, Any], array_job_id: int, task: int) -> bool:
    """Whether a record is task `task` of the array, split off or still pending inside it."""
    if record.get("array_job_id") != array_job_id:
        return False
    if record.get("array_task_id") is not None:
        return int(record["array_task_id"]) == task
    folded = record.get("array_task_string")
    if not folded:
        return False
    from corral.model.arrays import parse_indices
    return task in parse_indices(str(folded).split("%")[0])


def _signal_number(signal: int | str) -> int:
    if isinstance(signal, int):
        return signal
    name = signal.upper().removeprefix("SIG")
    if name.isdigit():
        return int(name)
    import signal as signals  # only here: the commands never pay for its enum
    try:
        return int(signals.Signals["SIG" + name])
    except KeyError:
        raise InvalidRequest(400, f"Invalid job signal: {signal}") from None
