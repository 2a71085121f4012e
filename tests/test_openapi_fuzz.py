"""A bounded, seeded schemathesis run over every service's OpenAPI document.

Each operation of exchange, crowdfunding, budget and impact gets a few valid and a few
invalid requests, generated from the service's own `/openapi.json` with a fixed seed
(hypothesis `derandomize`), sent in-process with a staff token. The run fails on any 5xx,
on any status code the operation does not declare, and on any content type not declared
for that status. The four services share one NATS server, and impact is fuzzed last after
it has consumed what the others published: a fuzzed date once reached impact's report
that way and broke it.

Each service first gets the small world of tests/test_route_authorization.py, so that
besides random ids (404s) the fuzzed bodies also reach real items, loans, campaigns,
pledges, editions and proposals. Cases are generated first (hypothesis, no I/O) and
sent afterwards on the test's own event loop, where the services' databases live;
schemathesis' checks then judge each answer.
`FUZZ_EXAMPLES` (default 6 per mode and operation) makes a longer run locally, and
`FUZZ_ROLE` (default staff) fuzzes as another role (e.g. resident).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import defaultdict

import nats
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import func, select

from libs.common.events import STREAM
from libs.common.messaging import inbox
from services.budget.app import create_app as budget_app
from services.crowdfunding.app import create_app as crowdfunding_app
from services.exchange.app import create_app as exchange_app
from services.impact.app import create_app as impact_app
from tests.test_route_authorization import budget_world, crowdfunding_world, exchange_world

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
ROLE = os.environ.get("FUZZ_ROLE", "staff")  # another caller's view, for a local run
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


async def impact_world(service) -> dict[str, str]:
    return {"key": "environment.co2e_avoided_by_loans"}


SERVICES = [  # impact last: it reports on what the others published
    ("exchange", exchange_app, exchange_world),
    ("crowdfunding", crowdfunding_app, crowdfunding_world),
    ("budget", budget_app, budget_world),
    ("impact", impact_app, impact_world),
]


@pytest.fixture
def db_backend() -> str:
    return "sqlite"  # the run is about the HTTP contract; SQLite keeps it fast


def generated_cases(operation, headers: dict[str, str], **fixed) -> list:
    """A fixed set of valid and invalid cases for one operation (same seed every run)."""
    cases = []
    modes = [GenerationMode.POSITIVE]
    # Only a body or a query can be made invalid (a text path parameter cannot): trying
    # to negate anything else costs hundreds of rejected draws and yields nothing.
    if len(operation.body) or len(operation.query):
        modes.append(GenerationMode.NEGATIVE)
    for mode in modes:

        @hypothesis_settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(mode, headers=headers, **fixed))
        def collect(case) -> None:
            cases.append(case)

        try:
            collect()
        except Exception as exc:  # e.g. a negative mode impossible for this operation
            if "Unsatisfiable" not in type(exc).__name__:
                raise
    return cases


def cases_for(operation, headers: dict[str, str], world: dict[str, str]) -> list:
    """Random path ids (mostly 404s), then, where the world has them, real ones: the
    fuzzed bodies and queries then reach the use cases themselves."""
    cases = generated_cases(operation, headers)
    names = [parameter.name for parameter in operation.path_parameters]
    if names and all(name in world for name in names):
        known = {name: world[name] for name in names}
        cases += generated_cases(operation, headers, path_parameters=known)
    return cases


async def fuzz(service, failures: dict[str, list[str]], world: dict[str, str]) -> int:
    schema = schemathesis.openapi.from_dict(service.app.openapi())
    headers = service.auth(f"fuzz-{ROLE}", ROLE)
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for case in cases_for(operation, headers, world):
            kwargs = case.as_transport_kwargs(base_url=str(service.client.base_url))
            sent += 1
            try:
                response = await service.client.request(
                    kwargs["method"],
                    kwargs["url"],
                    headers=kwargs.get("headers"),
                    params=kwargs.get("params"),
                    content=_content(kwargs),
                )
            except Exception as exc:  # the in-process transport re-raises what made a 500
                key = f"{service.name} {operation.label}: 500, raised {type(exc).__name__}"
                failures[key].append(f"{kwargs['method']} {kwargs['url']}: {exc}"[:600])
                continue
            try:
                case.validate_response(response, checks=CHECKS)
            except (Exception, BaseExceptionGroup) as exc:
                title = str(exc).strip().splitlines()[0]
                key = f"{service.name} {operation.label}: {title}"
                failures[key].append(_short(response, kwargs))
    return sent


def _content(kwargs: dict) -> bytes | None:
    if "json" in kwargs:
        return json.dumps(kwargs["json"]).encode()
    data = kwargs.get("data")
    if isinstance(data, str):
        return data.encode()
    return data


def _short(response, kwargs) -> str:
    sent = kwargs.get("json", kwargs.get("data"))
    return (
        f"{kwargs['method']} {response.request.url} body={str(sent)[:200]!r} -> "
        f"{response.status_code} {response.headers.get('content-type')} {response.text[:300]}"
    )


async def consumed_everything(impact, others, nats_url: str, timeout: float = 30.0) -> None:
    """Let impact apply what the other services published (not an assertion: the report
    must answer whatever it has)."""
    for service in others:
        await service.flush_outbox()
    nc = await nats.connect(nats_url)
    try:
        published = (await nc.jetstream().stream_info(STREAM)).state.messages
    finally:
        await nc.close()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        async with impact.runtime.db.transaction() as session:
            if await session.scalar(select(func.count()).select_from(inbox)) >= published:
                return
        await asyncio.sleep(0.1)


@pytest.mark.long
async def test_every_service_answers_only_what_its_openapi_declares(service_factory, nats_server):
    failures: dict[str, list[str]] = defaultdict(list)
    started, sent = [], 0
    for name, create_app, build_world in SERVICES:
        service = await service_factory(name, create_app)
        world = await build_world(service)
        if name == "impact":
            await consumed_everything(service, started, nats_server.url)
        sent += await fuzz(service, failures, world)
        started.append(service)
    assert sent > 0
    report = [
        f"{key} ({len(examples)}x)\n    " + "\n    ".join(examples[:2])
        for key, examples in sorted(failures.items())
    ]
    assert not failures, f"{len(failures)} undeclared answers:\n" + "\n".join(report)
