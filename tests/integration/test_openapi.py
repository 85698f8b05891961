"""The API publishes its OpenAPI document and answers client mistakes with 4xx, never 500."""

from __future__ import annotations

import json
import socket

import pytest

from cluster import Cluster

pytestmark = pytest.mark.integration


def _raw(cluster: Cluster, method: str, path: str, body: bytes = b"") -> tuple[int, dict]:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(cluster.socket))
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload or b"null")


def test_openapi_document_is_published(cluster: Cluster) -> None:
    status, doc = _raw(cluster, "GET", "/api/v1/openapi.json")
    assert status == 200 and "/api/v1/jobs" in doc["paths"]


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/api/v1/jobs", b"{not json"),
    ("POST", "/api/v1/jobs", b'{"script": "#!/bin/sh", "work_dir": "/", "num_nodes": 0}'),
    ("POST", "/api/v1/jobs", b'{"script": "#!/bin/sh", "work_dir": "/", "bogus": 1}'),
    ("GET", "/api/v1/jobs/99999999", b""),
    ("GET", "/api/v1/jobs?job_id=abc", b""),
    ("POST", "/api/v1/jobs/99999999/hold", b""),
    ("PATCH", "/api/v1/nodes/nosuchnode", b'{"state": "DRAIN", "reason": "x"}'),
    ("POST", "/api/v1/jobs/cancel", b"{}"),
    ("GET", "/api/v1/agents/node1/commands", b""),
])
def test_client_mistakes_get_4xx_with_a_message(cluster: Cluster, method: str, path: str,
                                                body: bytes) -> None:
    status, reply = _raw(cluster, method, path, body)
    assert 400 <= status < 500, (status, reply)
    assert reply["detail"]
