"""The supported Python client of corral: `from corral.client import Client`.

Errors, all raised by Client methods:

    ClientError                 the controller refused a request (`status`, `message`)
    ├── InvalidRequest          400/422, also a ValueError: bad or unsatisfiable request
    ├── PermissionDenied        403: not the caller's job or node
    ├── NotFound                404
    │   └── JobNotFound         404 for a job id
    └── Conflict                409: the job's state does not allow the change
    ControllerUnreachable       no controller answered
    TimeoutError                Client.wait ran out of time

JobInfo, NodeInfo and StepInfo (corral.client.types) load on first use, so that the
Slurm-style commands, which import this package on every call, stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from corral.client.client import (
    Client,
    ClientError,
    Conflict,
    ControllerUnreachable,
    InvalidRequest,
    JobNotFound,
    NotFound,
    PermissionDenied,
)
from corral.client.locate import locate_controller

if TYPE_CHECKING:
    from corral.client.types import JobInfo, NodeInfo, StepInfo

__all__ = ["Client", "ClientError", "Conflict", "ControllerUnreachable", "InvalidRequest",
           "JobInfo", "JobNotFound", "NodeInfo", "NotFound", "PermissionDenied", "StepInfo",
           "locate_controller"]

_TYPES = ("JobInfo", "NodeInfo", "StepInfo")


def __getattr__(name: str) -> Any:
    if name in _TYPES:
        from corral.client import types
        return getattr(types, name)
    raise AttributeError(f"module 'corral.client' has no attribute {name!r}")
