"""The per-job token: lets a process of a job act as the job's owner for that job only.

The launcher puts it in the job's environment (CORRAL_JOB_TOKEN), so that srun inside a job
can start steps from a node that has neither the controller's socket nor the cluster key.
It is an HMAC of "job_id:attempt" under the cluster key: nothing to store, and a requeued
job's new attempt gets a new token.
"""

from __future__ import annotations

import hashlib
import hmac


def job_token(cluster_key: str, job_id: int, attempt: int) -> str:
    return hmac.new(cluster_key.encode(), f"{job_id}:{attempt}".encode(), hashlib.sha256).hexdigest()


def token_matches(cluster_key: str, job_id: int, attempt: int, token: str | None) -> bool:
    if not cluster_key or not token:
        return False
    return hmac.compare_digest(job_token(cluster_key, job_id, attempt), token)
