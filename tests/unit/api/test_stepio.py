"""The step I/O protocol's frames: a fixed header before data, JSON objects for control."""

from __future__ import annotations

import pytest

from corral.api import stepio


def test_data_frames_name_their_task_and_stream() -> None:
    frame = stepio.data_frame(70000, stepio.STDERR, b"oops\n")
    assert len(frame) == stepio.HEADER_SIZE + 5
    assert stepio.parse_data_frame(frame) == (70000, stepio.STDERR, b"oops\n")


def test_an_empty_stdin_frame_means_end_of_file_for_every_task() -> None:
    frame = stepio.data_frame(stepio.ALL_TASKS, stepio.STDIN, b"")
    assert stepio.parse_data_frame(frame) == (stepio.ALL_TASKS, stepio.STDIN, b"")


@pytest.mark.parametrize("frame", [b"\x00\x00", b"\x00\x00\x00\x01\x07data"])
def test_malformed_data_frames_are_refused(frame: bytes) -> None:
    with pytest.raises(ValueError):
        stepio.parse_data_frame(frame)


def test_control_frames_are_json_objects() -> None:
    text = stepio.control({"exit": 3, "status": {"exit_code": 1, "signal": 0}})
    assert stepio.parse_control(text) == {"exit": 3, "status": {"exit_code": 1, "signal": 0}}
    with pytest.raises(ValueError):
        stepio.parse_control("[1, 2]")


def test_a_task_killed_by_a_signal_counts_as_128_plus_the_signal() -> None:
    assert stepio.exit_status_code(3, 0) == 3
    assert stepio.exit_status_code(0, 9) == 137
