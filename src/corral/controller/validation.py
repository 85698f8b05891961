"""What the controller checks of a submitted job itself, with the commands' rules and wording.

The commands check their options before sending them, but the API is public: a body sent by
hand must not be able to queue a job that a command would have refused, one that breaks a
later read (a begin time past year 9999), or one that the node cannot carry out (a warning
signal it cannot parse, which left jobs RUNNING past their limit).

The validators of the ingest chain (controller/ingest.py): small functions, each checking one
thing of the request as it was sent, run in order; the first that fails answers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

from corral.api.schemas import SubmitRequest
from corral.controller.auth import Caller
from corral.model.errors import InvalidRequest, PermissionDenied
from corral.model.signals import parse_warning_signal
from corral.model.timefmt import within_calendar

FAILED = "Batch job submission failed: "
# Slurm's limit on a time limit is INFINITE-1 minutes; corral's keeps the end inside the calendar.
MAX_MINUTES = 100 * 366 * 24 * 60
MAIL_TYPES = frozenset({"NONE", "BEGIN", "END", "FAIL", "REQUEUE", "ALL", "INVALID_DEPEND",
                        "STAGE_OUT", "TIME_LIMIT", "TIME_LIMIT_90", "TIME_LIMIT_80",
                        "TIME_LIMIT_50", "ARRAY_TASKS"})


def check_submission(body: SubmitRequest, caller: Caller) -> None:
    """Raises InvalidRequest (or PermissionDenied) naming the first field that is wrong."""
    for validator in VALIDATORS:
        validator(body, caller)


def no_nul(body: SubmitRequest, caller: Caller) -> None:
    _no_nul(body.model_dump())


def times_in_calendar(body: SubmitRequest, caller: Caller) -> None:
    for field, option in (("begin_time", "begin"), ("deadline", "deadline")):
        value = getattr(body, field)
        if value is not None and not (math.isfinite(value) and within_calendar(value)):
            raise InvalidRequest(f"Invalid --{option} specification")


def limits_in_calendar(body: SubmitRequest, caller: Caller) -> None:
    for field, option in (("time_limit", "time"), ("time_min", "time-min")):
        value = getattr(body, field)
        if value is not None and value > MAX_MINUTES:
            raise InvalidRequest(f"Invalid --{option} specification")


def signal_known(body: SubmitRequest, caller: Caller) -> None:
    if body.signal is not None:
        try:
            parse_warning_signal(body.signal)
        except ValueError:
            raise InvalidRequest("Invalid --signal specification") from None


def nice_allowed(body: SubmitRequest, caller: Caller) -> None:
    if body.nice < 0 and not caller.operator:
        raise PermissionDenied("Access/permission denied: only an operator can set a negative nice")


def work_dir_absolute(body: SubmitRequest, caller: Caller) -> None:
    if not os.path.isabs(body.work_dir):
        raise InvalidRequest(f"{FAILED}work directory must be an absolute path: {body.work_dir}")


def environment_names(body: SubmitRequest, caller: Caller) -> None:
    for key in body.environment:
        if not key or "=" in key:
            raise InvalidRequest(f"{FAILED}invalid environment variable name: {key!r}")


def mail_types_known(body: SubmitRequest, caller: Caller) -> None:
    if body.mail_type:
        unknown = {t.strip().upper() for t in body.mail_type.split(",")} - MAIL_TYPES
        if unknown:
            raise InvalidRequest(f"--mail-type={body.mail_type} invalid")


Validator = Callable[[SubmitRequest, Caller], None]
# In this order: the first that fails names the error (as the single check did before).
VALIDATORS: tuple[Validator, ...] = (no_nul, times_in_calendar, limits_in_calendar, signal_known,
                                     nice_allowed, work_dir_absolute, environment_names,
                                     mail_types_known)


def _no_nul(value: Any, where: str = "") -> None:
    """No text may hold a NUL: the databases refuse it (PostgreSQL), or cut it short."""
    if isinstance(value, str):
        if "\0" in value:
            raise InvalidRequest(f"{FAILED}{where or 'a field'} contains a NUL character")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key, where or str(key))
            _no_nul(item, where or str(key))
    elif isinstance(value, list | tuple):
        for item in value:
            _no_nul(item, where)
