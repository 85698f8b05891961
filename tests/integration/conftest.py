from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import Cluster


def _open_dir(prefix: str) -> Path:
    # Outside pytest's 0700 temp root, so that jobs of other users can reach their files.
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    root = _open_dir("corral-test-cluster-")
    running = Cluster(root).start()
    yield running
    running.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = _open_dir("corral-test-work-")
    yield path
    shutil.rmtree(path, ignore_errors=True)
