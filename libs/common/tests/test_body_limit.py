"""REQUEST_MAX_BYTES: bodies over the limit are refused with 413 problem+json while they
are read (chunked, or with a Content-Length that lies), on every service and the portal,
the payment webhook included."""

from __future__ import annotations

import importlib

import pytest
from fastapi import APIRouter, Request

from libs.common.settings import Settings

LIMIT = 64 * 1024
CHUNK = 16 * 1024
# (app, path, headers): a public or authenticated endpoint that reads a body.
ENDPOINTS = [
    ("exchange", "/items", "auth"),
    ("budget", "/receipts/lookup", None),
    ("crowdfunding", "/payments/webhooks/sandbox", None),
    ("impact", "/report", None),  # reads no body: the declared length is enough to refuse
    ("portal", "/login", None),
]


class Body:
    """A body sent chunk by chunk, remembering how much of it was asked for."""

    def __init__(self, size: int) -> None:
        self.chunks = size // CHUNK
        self.pulled = 0

    async def __aiter__(self):
        for _ in range(self.chunks):
            self.pulled += 1
            yield b"x" * CHUNK


def test_the_default_limit_is_one_mebibyte():
    assert Settings(env="test").request_max_bytes == 1_048_576


async def start(service_factory, name: str):
    create_app = importlib.import_module(f"services.{name}.app").create_app
    return await service_factory(name, create_app, request_max_bytes=LIMIT)


def assert_too_large(response) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 413
    assert str(LIMIT) in response.json()["detail"]


@pytest.mark.parametrize(("name", "path", "auth"), ENDPOINTS)
async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    service_factory, name, path, auth
):
    service = await start(service_factory, name)
    body = Body(4 * LIMIT)
    headers = {"Content-Length": str(4 * LIMIT), **(service.auth() if auth else {})}
    response = await service.client.post(path, content=body, headers=headers)
    assert_too_large(response)
    assert body.pulled == 0


@pytest.mark.parametrize(("name", "path", "auth"), [e for e in ENDPOINTS if e[0] != "impact"])
async def test_a_chunked_body_over_the_limit_is_refused_while_reading(
    service_factory, name, path, auth
):
    service = await start(service_factory, name)
    kind = "application/x-www-form-urlencoded" if name == "portal" else "application/json"
    headers = {"Content-Type": kind, **(service.auth() if auth else {})}
    body = Body(16 * LIMIT)  # no Content-Length: sent chunked
    response = await service.client.post(path, content=body, headers=headers)
    assert_too_large(response)
    assert body.pulled <= LIMIT // CHUNK + 1 < body.chunks  # stopped reading at the limit

    lying = Body(16 * LIMIT)
    response = await service.client.post(
        path, content=lying, headers={**headers, "Content-Length": "100"}
    )
    assert_too_large(response)
    assert lying.pulled < lying.chunks


async def test_a_body_under_the_limit_goes_through(service_factory):
    service = await start(service_factory, "budget")
    response = await service.client.post("/receipts/lookup", json={"receipt": "x" * (LIMIT // 2)})
    assert response.status_code != 413
    assert response.status_code < 500


@pytest.fixture
def real_server(tmp_path):
    """A service shell under a real uvicorn (a thread, a free port), one body-reading route."""
    import threading
    import time

    import uvicorn

    from libs.common.natsserver import free_port
    from libs.common.web import create_service_app

    router = APIRouter()

    @router.post("/echo")
    async def echo(request: Request) -> dict:
        return {"received": len(await request.body())}

    app = create_service_app(
        "bodytest",
        routers=[router],
        settings=Settings(env="test", var_dir=tmp_path, request_max_bytes=LIMIT),
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield port
    server.should_exit = True
    thread.join(10)


def test_a_real_server_answers_413_long_before_a_huge_chunked_body_ends(real_server):
    import select
    import socket

    total = 256 * 1024 * 1024  # far more than any socket buffer between us and the app
    chunk = b"x" * CHUNK
    framed = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    sent = 0
    answer = b""
    with socket.create_connection(("127.0.0.1", real_server), timeout=10) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n"
        )
        sock.setblocking(False)
        while sent < total:
            readable, writable, _ = select.select([sock], [sock], [], 10)
            if readable:
                answer = sock.recv(65536)
                break
            if not writable:
                break
            try:
                sock.send(framed)
            except (BlockingIOError, ConnectionError):
                continue
            sent += len(chunk)
        if not answer:
            sock.setblocking(True)
            answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"application/problem+json" in answer
    assert sent < total // 4  # the server stopped reading: we never got to send it all

    with socket.create_connection(("127.0.0.1", real_server), timeout=10) as sock:
        small = b"y" * 1000
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (len(small), small)
        )
        reply = b""
        while chunk_ := sock.recv(65536):
            reply += chunk_
    assert reply.startswith(b"HTTP/1.1 200") and b'"received":1000' in reply
