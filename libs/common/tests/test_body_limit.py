"""REQUEST_MAX_BYTES: bodies over the limit are refused with 413 problem+json while they
are read (chunked, or with a Content-Length that lies), on every service and the portal,
the payment webhook included."""

from __future__ import annotations

import importlib

import pytest

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
