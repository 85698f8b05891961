"""The I/O protocol of a job step: between srun and the step supervisor on each node.

As in Slurm, srun listens and the nodes connect back to it: one WebSocket per node, opened by
the step supervisor to `ws://IO_ADDR/` with the header `Authorization: Bearer IO_KEY` (the
random secret srun gave the controller when it asked for the step). No home-made wire format:
WebSocket frames, with JSON for control and a fixed 5-byte header on data.

Text frames carry one JSON object each:

    node → srun   {"hello": NODE, "tasks": [PROCID, …]}      first frame on a connection
                  {"exit": PROCID, "status": {"exit_code": N, "signal": S}}
                  {"done": true, "cancelled": BOOL}        every task of the node has ended
    srun → node   {"signal": N}                             deliver signal N to every task
                  {"winsize": [ROWS, COLS]}                 the terminal was resized (--pty)
                  {"launch": "ok"}                          srun serves the step's I/O, or
                  {"launch_failed": TEXT}                   cannot (its output file): the node
                                                            kills the tasks, the step FAILED;
                                                            one of the two follows each hello,
                                                            and a node awaits it before "done"

Binary frames carry data, after a header of 5 bytes: the task's id (procid, unsigned 32-bit,
big-endian), then the stream (one byte: 0 stdin, 1 stdout, 2 stderr):

    node → srun   stdout and stderr of a task, as read from its pipe (or pty)
    srun → node   stdin for a task; procid ALL_TASKS means every task of the node;
                  an empty payload is end of file

Only the standard library is used here: srun imports this module on its lean path.
"""

from __future__ import annotations

import json
import struct
from typing import Any

STDIN, STDOUT, STDERR = 0, 1, 2
ALL_TASKS = 0xFFFFFFFF
_HEADER = struct.Struct(">IB")
HEADER_SIZE = _HEADER.size


def data_frame(procid: int, stream: int, payload: bytes) -> bytes:
    """A binary frame: `payload` of `stream` for task `procid`."""
    return _HEADER.pack(procid, stream) + payload


def parse_data_frame(frame: bytes) -> tuple[int, int, bytes]:
    """(procid, stream, payload) of a binary frame; ValueError when it is too short."""
    if len(frame) < HEADER_SIZE:
        raise ValueError(f"data frame of {len(frame)} bytes is shorter than its header")
    procid, stream = _HEADER.unpack_from(frame)
    if stream not in (STDIN, STDOUT, STDERR):
        raise ValueError(f"unknown stream {stream}")
    return procid, stream, frame[HEADER_SIZE:]


def control(message: dict[str, Any]) -> str:
    """A text frame."""
    return json.dumps(message, separators=(",", ":"))


def parse_control(frame: str) -> dict[str, Any]:
    message = json.loads(frame)
    if not isinstance(message, dict):
        raise ValueError("a control frame must be a JSON object")
    return message


def exit_status_code(exit_code: int, signal: int) -> int:
    """A task's status as srun returns it: its exit code, or 128 + the signal that killed it."""
    return 128 + signal if signal else exit_code


__all__ = ["ALL_TASKS", "HEADER_SIZE", "STDERR", "STDIN", "STDOUT", "control", "data_frame",
           "exit_status_code", "parse_control", "parse_data_frame"]
