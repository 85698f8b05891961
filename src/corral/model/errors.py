"""corral's error tree.

    CorralError
    ├── UserError                 a client's mistake → 4xx, message in Slurm's wording
    │   ├── InvalidRequest        400: malformed or unsatisfiable request
    │   ├── PermissionDenied      403: "Access/permission denied"
    │   └── NotFound              404: unknown job, node or partition
    └── InvalidTransition         a bug: an event that the job's state does not accept
"""

from __future__ import annotations


class CorralError(Exception):
    """Root of every error corral raises on purpose."""


class UserError(CorralError):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(UserError):
    status = 400


class PermissionDenied(UserError):
    status = 403

    def __init__(self, message: str = "Access/permission denied") -> None:
        super().__init__(message)


class NotFound(UserError):
    status = 404


class InvalidTransition(CorralError):
    """An event arrived that the job's current state has no transition for."""
