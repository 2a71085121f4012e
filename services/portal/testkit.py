"""Test helpers for the portal: a fake of the four services, accounts, log-in."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from services.portal import accounts
from services.portal.territory import directory

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class FakeServices:
    """Answers the portal's HTTP calls; records them with their bearer tokens."""

    routes: dict[tuple[str, str], Callable[[httpx.Request], httpx.Response]] = field(
        default_factory=dict
    )
    calls: list[httpx.Request] = field(default_factory=list)

    def on(self, method: str, url: str, response: object, status: int = 200) -> None:
        self.routes[(method, url)] = lambda request: httpx.Response(status, json=response)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        key = (
            request.method,
            f"{request.url.scheme}://{request.url.netloc.decode()}{request.url.path}",
        )
        if key in self.routes:
            return self.routes[key](request)
        return httpx.Response(
            404, json={"title": "Not Found", "detail": f"no fake for {key}", "status": 404}
        )


async def csrf_of(client: httpx.AsyncClient, path: str = "/login") -> str:
    page = await client.get(path)
    match = CSRF.search(page.text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


async def make_account(service, *, email: str, password: str = "correct horse battery",
                       roles=("resident",), status=accounts.VERIFIED,
                       address: str = "12 rue des Tilleuls") -> accounts.Account:  # fmt: skip
    async with service.runtime.db.transaction() as session:
        return await accounts.sign_up(
            session,
            directory=directory(),
            email=email,
            display_name=email.split("@")[0].title(),
            password=password,
            address=address,
            roles=tuple(roles),
            status=status,
        )


async def log_in(client: httpx.AsyncClient, email: str, password: str = "correct horse battery"):
    token = await csrf_of(client)
    response = await client.post(
        "/login", data={"email": email, "password": password, "csrf": token, "next": "/account"}
    )
    assert response.status_code == 303, response.text
    return response
