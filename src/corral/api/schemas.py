"""Pydantic schemas of the request bodies of /api/v1 (responses are documented in docs/spec)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, get_args, get_origin, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model

from corral.model.job import JobSpec

__all__ = ["AccountAdmin", "AllocationEnd",
           "CancelRequest", "JobUpdate", "NodeUpdate", "Strict", "SubmitRequest"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# The job request is declared once, as model.job.JobSpec: each field's type, default and bounds
# (its metadata). The API's body is generated from it. What differs on the wire: sequences are
# JSON lists, the identity is optional (the caller's by default), and the user's and group's
# names are the controller's to find, never sent.
_SERVER_FILLED = frozenset({"user", "group"})
_OPTIONAL_IDENTITY = frozenset({"uid", "gid"})


def _wire_type(hint: Any) -> Any:
    """tuple[str, ...] → list[str] and Mapping[K, V] → dict[K, V]; others as declared."""
    origin = get_origin(hint)
    if origin is tuple:
        return list[get_args(hint)[0]]  # type: ignore[misc]
    if origin is Mapping:
        key, value = get_args(hint)
        return dict[key, value]  # type: ignore[valid-type]
    return hint


def _request_fields() -> dict[str, Any]:
    hints = get_type_hints(JobSpec)
    out: dict[str, Any] = {}
    for spec_field in dataclasses.fields(JobSpec):
        name = spec_field.name
        if name in _SERVER_FILLED:
            continue
        if name in _OPTIONAL_IDENTITY:
            out[name] = (int | None, None)
            continue
        bounds = {k: v for k, v in spec_field.metadata.items() if k != "api_default"}
        if "api_default" in spec_field.metadata:
            default: Any = spec_field.metadata["api_default"]
        elif spec_field.default is not dataclasses.MISSING:
            default = spec_field.default
        elif spec_field.default_factory is not dataclasses.MISSING:
            default = spec_field.default_factory()
        else:
            default = ...
        if isinstance(default, tuple):
            default = list(default)
        wire = _wire_type(hints[name])
        out[name] = (wire, Field(default, **bounds) if bounds else default)
    return out


if TYPE_CHECKING:
    class SubmitRequest(Strict):
        """For the type checker: the fields of JobSpec, less user and group."""

        def __getattr__(self, name: str) -> Any: ...
else:
    SubmitRequest = create_model(
        "SubmitRequest", __base__=Strict, __module__=__name__,
        __doc__="A batch job as sbatch sends it; sizes in MiB, time limit in minutes "
                "(null = unlimited).",
        **_request_fields())


class CancelRequest(Strict):
    """job_ids are Slurm's forms: `12`, `12_7` (one array task), `12_[1-3,5]` (several)."""

    job_ids: list[int | str] = []
    user: str | None = None
    name: str | None = None
    states: list[str] = []
    partition: str | None = None
    signal: int | None = Field(None, ge=0, le=64)
    batch_only: bool = False


class AllocationEnd(Strict):
    """The status salloc's command or srun's step ended with (Slurm's slurm_complete_job)."""

    exit_code: int = Field(0, ge=0, le=255)
    exit_signal: int = Field(0, ge=0, le=64)


class JobUpdate(Strict):
    time_limit: int | None = Field(None, ge=0, le=100 * 366 * 24 * 60)
    name: str | None = Field(None, max_length=1024)
    nice: int | None = Field(None, ge=-2147483645, le=2147483645)
    dependency: str | None = None
    clear_time_limit: bool = False


class AccountAdmin(Strict):
    """One sacctmgr add/modify/delete, as its command line said it (model.account_admin)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    verb: str
    entity: str
    names: list[str] = Field(default_factory=list)
    where: dict[str, str] = Field(default_factory=dict)
    changes: dict[str, str] = Field(default_factory=dict, alias="set")
    dry_run: bool = False


class NodeUpdate(Strict):
    state: str
    reason: str | None = None
