"""create_app(): the controller's application, assembled from its routers (controller/routes/),
with the error handlers every route shares and the scheduling loop run for its lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from corral import __version__
from corral.controller.idempotency import IdempotentReplies
from corral.controller.routes import ROUTERS
from corral.controller.service import INLINE_PASS, Controller
from corral.model.errors import InvalidTransition, UserError
from corral.settings import ControllerSettings
from corral.store.store import Store

log = logging.getLogger("corral.controller")

__all__ = ["INLINE_PASS", "Controller", "create_app"]


async def _user_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UserError)
    return JSONResponse({"detail": exc.message}, status_code=exc.status)


async def _database_down(_: Request, exc: Exception) -> JSONResponse:
    # Nothing was committed (each change is one transaction): the client may simply retry.
    log.warning("database unavailable: %s", str(exc).splitlines()[0] if str(exc) else exc)
    return JSONResponse({"detail": "database unavailable, retry"}, status_code=503,
                        headers={"Retry-After": "5"})


async def _bad_transition(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=409)


async def _invalid_body(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}"
                         for e in exc.errors())
    return JSONResponse({"detail": f"invalid request: {problems}"}, status_code=422)


def create_app(settings: ControllerSettings, store: Store, clock: Callable[[], float]) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        controller = Controller(settings, store, clock)
        app.state.controller = controller
        controller.writer.start()
        loop_task = asyncio.create_task(controller.scheduling_loop())
        controller.wake.set()
        yield
        loop_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop_task
        await controller.writer.stop()

    app = FastAPI(title="corral", version=__version__, lifespan=lifespan,
                  openapi_url="/api/v1/openapi.json", docs_url="/api/v1/docs", redoc_url=None)
    app.add_middleware(IdempotentReplies)
    app.add_exception_handler(UserError, _user_error)
    for outage in (OperationalError, InterfaceError, PoolTimeout):
        app.add_exception_handler(outage, _database_down)
    app.add_exception_handler(InvalidTransition, _bad_transition)
    app.add_exception_handler(RequestValidationError, _invalid_body)
    for router in ROUTERS:
        app.include_router(router)
    return app
