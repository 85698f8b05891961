"""The per-job token: lets a process of a job act as the job's owner for that job only.

The launcher puts it in the job's environment (CORRAL_JOB_TOKEN), so that srun inside a job
can start steps from a node that has neither the controller's socket nor the cluster key.
It is an HMAC of "job_id:attempt" under a key of its own (job-token.key in the private part of the
controller's data directory), not the cluster key that every agent holds: nothing to store, a requeued
job's new attempt gets a new token, and tokens outlive a controller restart.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from corral.keyfile import read_or_create
from corral.store.private import ensure_private_dir


def token_key(data_dir: Path) -> str:
    return read_or_create(ensure_private_dir(data_dir) / "job-token.key")


def job_token(key: str, job_id: int, attempt: int) -> str:
    return hmac.new(key.encode(), f"{job_id}:{attempt}".encode(), hashlib.sha256).hexdigest()


def token_matches(key: str, job_id: int, attempt: int, token: str | None) -> bool:
    if not key or not token:
        return False
    return hmac.compare_digest(job_token(key, job_id, attempt), token)
