"""The reports route takes the typed ReportBatch (docs/spec/02): a well-formed batch is taken,
a malformed report is refused with 422 and changes nothing."""

from __future__ import annotations

import typing
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from corral.api.agent_protocol import PROTOCOL_VERSION, ReportBatch
from corral.clock import ManualClock
from corral.controller.app import create_app
from corral.controller.auth import Caller
from corral.controller.routes import agents as agent_routes
from corral.controller.routes import deps
from corral.settings import ControllerSettings
from corral.store.store import Store, sqlite_url


def _app(tmp_path: Path) -> FastAPI:
    url = sqlite_url(tmp_path)
    settings = ControllerSettings(data_dir=tmp_path, db_url=url, socket_path=tmp_path / "s",
                                  node_timeout=10.0, schedule_interval=3600.0)
    app = create_app(settings, Store.open(url), ManualClock(1000.0))
    app.dependency_overrides[deps._agent] = lambda: None
    app.dependency_overrides[deps._caller] = lambda: Caller(uid=0, gid=0, user="root",
                                                            operator=True)
    return app


def test_the_reports_route_takes_a_report_batch() -> None:
    assert typing.get_type_hints(agent_routes.reports)["body"] is ReportBatch


def test_a_malformed_report_is_refused_with_422(tmp_path: Path) -> None:
    app = _app(tmp_path)
    with TestClient(app) as client:
        client.post("/api/v1/agents/register", json={
            "protocol": PROTOCOL_VERSION, "name": "n1", "cpus": 1, "memory": 100})
        api = "/api/v1/agents/n1/reports"
        stale = {"job_id": 99, "attempt": 0, "event": "finished", "exit_code": 0}
        assert client.post(api, json={"reports": [stale]}).json() == {"ok": True}
        for bad in ({"job_id": 1, "attempt": 0, "event": "exploded"},  # an unknown event
                    {"attempt": 0, "event": "started"},  # no job
                    {"job_id": 1, "attempt": 0, "event": "finished", "exit_code": "x"},
                    {"job_id": 1, "attempt": 0, "event": "step_finished"}):  # no step, node
            refused = client.post(api, json={"reports": [stale, bad]})
            assert refused.status_code == 422, bad
            assert "invalid request" in refused.text
        assert client.post(api, json={}).status_code == 422
