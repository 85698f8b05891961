"""How every Slurm-style command starts and fails: one line on stderr, Slurm's exit codes, no tracebacks."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from corral.client import Client, ClientError, ControllerUnreachable


class CommandError(Exception):
    """A user mistake a command reports as `PROG: error: MESSAGE` before exiting with `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def slurm_unreachable(exc: ControllerUnreachable) -> str:
    """Slurm's words (slurm_strerror) for a controller that did not answer: tools match them
    to tell "the controller is down" (wait, ask again) from "the job is gone"."""
    if "timed out" in exc.cause.lower():
        return "Socket timed out on send/recv operation"
    return "Unable to contact slurm controller (connect failure)"


def run_command(prog: str, body: Callable[[Client, list[str]], int],
                argv: Sequence[str] | None = None) -> int:
    """Runs `body(client, args)`; turns the expected failures into Slurm-style messages."""
    args = list(sys.argv[1:] if argv is None else argv)
    client = Client.from_env()
    try:
        return body(client, args)
    except CommandError as exc:
        print(f"{prog}: error: {exc.message}", file=sys.stderr)
        return exc.code
    except ControllerUnreachable as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except ClientError as exc:
        print(f"{prog}: error: {exc.message}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        client.close()
