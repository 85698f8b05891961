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


# How a family words a failure: (the text for stderr, the exit code), or None to let it rise.
Wording = Callable[[str, Exception], tuple[str, int] | None]


def slurm_wording(prog: str, exc: Exception) -> tuple[str, int] | None:
    """`PROG: error: MESSAGE`, exit 1 (a CommandError's own code)."""
    if isinstance(exc, CommandError):
        return f"{prog}: error: {exc.message}", exc.code
    if isinstance(exc, ControllerUnreachable):
        return f"{prog}: error: {exc}", 1
    if isinstance(exc, ClientError):
        return f"{prog}: error: {exc.message}", 1
    return None


def run_command(prog: str, body: Callable[[Client, list[str]], int],
                argv: Sequence[str] | None = None, wording: Wording = slurm_wording) -> int:
    """Runs `body(client, args)`; turns the expected failures into messages in the family's
    words (Slurm's unless told): one line on stderr and an exit code, no traceback. A closed
    pipe exits 0 and Ctrl-C 130, as in every family."""
    args = list(sys.argv[1:] if argv is None else argv)
    client = Client.from_env()
    try:
        return body(client, args)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        said = wording(prog, exc)
        if said is None:
            raise
        print(said[0], file=sys.stderr)
        return said[1]
    finally:
        client.close()
