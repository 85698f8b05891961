"""The API is assembled from routers by resource; every route but the health check names
its caller through the one dependency (a user, or the cluster key on the agents' routes)."""

from __future__ import annotations

from pathlib import Path

from fastapi.routing import APIRoute

from corral.clock import ManualClock
from corral.controller.app import create_app
from corral.controller.routes import ROUTERS, deps
from corral.settings import ControllerSettings
from corral.store.store import Store, sqlite_url


def _routes() -> list[tuple[APIRoute, set[object]]]:
    """Every route in the order create_app includes them, with its dependencies' callables."""
    found = []
    for router in ROUTERS:
        shared = {d.dependency for d in router.dependencies}
        for route in router.routes:
            assert isinstance(route, APIRoute)
            found.append((route, shared | {d.call for d in route.dependant.dependencies}))
    return found


def test_every_route_names_its_caller_the_same_way() -> None:
    routes = _routes()
    assert len(routes) >= 25
    for route, calls in routes:
        if route.path == "/api/v1/ping":
            assert deps._caller not in calls and deps._agent not in calls
        elif route.path.startswith("/api/v1/agents/"):
            assert deps._agent in calls and deps._caller not in calls, route.path
        elif route.path == "/api/v1/jobs/{job_id}/steps":
            pass  # srun's token may come in the body: the route calls resolve_caller itself
        else:
            assert deps._caller in calls, route.path


def test_step_route_comes_before_the_job_actions() -> None:
    paths = [(r.path, sorted(r.methods)) for r, _ in _routes()]
    assert paths.index(("/api/v1/jobs/{job_id}/steps", ["POST"])) \
        < paths.index(("/api/v1/jobs/{job_id}/{action}", ["POST"]))
    assert paths.index(("/api/v1/jobs/{job_id}/complete", ["POST"])) \
        < paths.index(("/api/v1/jobs/{job_id}/{action}", ["POST"]))


def test_create_app_publishes_every_route(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    settings = ControllerSettings(data_dir=tmp_path, db_url=url, socket_path=tmp_path / "s")
    app = create_app(settings, Store.open(url), ManualClock(0.0))  # not started: no lifespan
    published = {(path, method) for path, ops in app.openapi()["paths"].items() for method in ops}
    assert published == {(r.path, m.lower()) for r, _ in _routes() for m in r.methods}
