"""A lean, synchronous client of the controller's REST API.

The Slurm-style commands are run in loops by tools, so this module uses only the standard
library and a small HTTP/1.1 transport (corral.client.transport): importing httpx alone costs
~70 ms, and http.client ~30 ms.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from corral.client.locate import locate_controller
from corral.client.transport import Connection, TransportError

JSON = Any


class ClientError(Exception):
    """The controller refused a request; `message` is its explanation, in Slurm's wording."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ControllerUnreachable(Exception):
    """No controller answered at `address`."""

    def __init__(self, address: str, cause: str) -> None:
        super().__init__(f"cannot reach the controller at {address}: {cause}")
        self.address = address


class Client:
    """Talks to one controller. Over TCP, the cluster key (CORRAL_CLUSTER_KEY) vouches for the uid."""

    def __init__(self, address: str, *, timeout: float = 30.0, cluster_key: str | None = None,
                 uid: int | None = None) -> None:
        self.address = address
        self._timeout = timeout
        self._headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
        if cluster_key:
            self._headers["Authorization"] = f"Bearer {cluster_key}"
            self._headers["X-Corral-Uid"] = str(os.getuid() if uid is None else uid)
        self._conn: Connection | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> Client:
        env = os.environ if environ is None else environ
        return cls(locate_controller(env), cluster_key=env.get("CORRAL_CLUSTER_KEY"), **kwargs)

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

    def request(self, method: str, path: str, body: JSON = None,
                query: Mapping[str, Any] | None = None) -> JSON:
        url = "/api/v1" + path
        if query:
            clean = {k: v for k, v in query.items() if v is not None}
            if clean:
                url += "?" + urlencode(clean)
        payload = None if body is None else json.dumps(body).encode()
        try:
            status, reason, data = self._connection().request(method, url, payload, self._headers)
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
            raise ClientError(status, detail)
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
