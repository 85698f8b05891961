from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import Cluster, open_dir


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    root = open_dir("corral-test-cluster-")
    running = Cluster(root).start()
    yield running
    running.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = open_dir("corral-test-work-")
    yield path
    shutil.rmtree(path, ignore_errors=True)
