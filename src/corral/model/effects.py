"""Commands a transition asks the driver to carry out; idempotent, keyed by (job_id, attempt)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LaunchJob:
    job_id: int
    attempt: int


@dataclass(frozen=True, slots=True)
class SignalJob:
    """Ask the job's nodes to end it (cancel, requeue) — TERM, then KILL after the grace time."""

    job_id: int
    attempt: int
    nodes: tuple[str, ...]
    grace: float | None = None  # seconds from TERM to KILL; None: the cluster's KillWait
    why: str = "cancelled"


@dataclass(frozen=True, slots=True)
class CleanupJob:
    """Ask nodes of a job whose run has ended to end what is left of it there and confirm
    (NodeReleased) once its processes are gone."""

    job_id: int
    attempt: int
    nodes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReleaseResources:
    job_id: int
    nodes: tuple[str, ...]


Effect = LaunchJob | SignalJob | CleanupJob | ReleaseResources
