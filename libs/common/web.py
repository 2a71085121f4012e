"""The FastAPI shell every service shares: lifespan, request ids, health, metrics, errors."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from libs.common.logs import bound_context, configure_logging, get_logger
from libs.common.metrics import HTTP_LATENCY, HTTP_REQUESTS, OUTBOX_PENDING
from libs.common.openapi import declare_problem_responses, install_problem_schema
from libs.common.outbox import pending_count
from libs.common.problems import install_problem_handlers
from libs.common.runtime import ServiceRuntime
from libs.common.settings import Settings, get_settings

log = get_logger(__name__)


class RequestContext:
    """Pure ASGI middleware: request id (echoed, bound to every log line) and metrics.

    Starlette's BaseHTTPMiddleware (`@app.middleware`) runs each request in an extra task
    with memory streams, a measurable cost on every call; this does the same without it.
    """

    def __init__(self, app, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _header(scope, b"x-request-id") or uuid.uuid4().hex
        start = time.perf_counter()
        status = 500

        async def send_with_id(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            with bound_context(request_id=request_id, service=self.service):
                await self.app(scope, receive, send_with_id)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            HTTP_REQUESTS.labels(self.service, method, path, status).inc()
            HTTP_LATENCY.labels(self.service, method, path).observe(time.perf_counter() - start)


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")[:200]
    return None


def create_service_app(
    name: str,
    *,
    routers: Iterable[APIRouter] = (),
    settings: Settings | None = None,
    wire: Callable[[ServiceRuntime], None] | None = None,
    title: str | None = None,
    description: str = "",
) -> FastAPI:
    """A service app; `wire(runtime)` registers the service's event consumers."""
    settings = settings or get_settings()
    configure_logging(json=settings.json_logs, level=settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runtime = ServiceRuntime(name, settings)
        if wire:
            wire(runtime)
        app.state.runtime = runtime
        await runtime.start()
        log.info("service started", service=name)
        try:
            yield
        finally:
            await runtime.stop()
            log.info("service stopped", service=name)

    app = FastAPI(
        title=title or f"Sharitories {name}",
        description=description,
        lifespan=lifespan,
        version="0.1.0",
    )
    install_problem_handlers(app)

    app.add_middleware(RequestContext, service=name)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict:
        """The process is alive."""
        return {"status": "ok", "service": name}

    @app.get(
        "/readyz",
        tags=["operations"],
        responses={
            503: {
                "description": "Not ready: a check names what is unreachable",
                "content": {"application/json": {}},
            }
        },
    )
    async def readyz(request: Request) -> JSONResponse:
        """Ready to serve: the database answers and NATS is connected."""
        runtime: ServiceRuntime = request.app.state.runtime
        checks = {"database": "ok", "nats": "ok"}
        try:
            await runtime.db.ping()
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        if not runtime.nats_connected():
            checks["nats"] = "unreachable"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
    )
    async def metrics(request: Request) -> Response:
        """Prometheus metrics."""
        runtime: ServiceRuntime = request.app.state.runtime
        try:
            OUTBOX_PENDING.labels(name).set(await pending_count(runtime.db))
        except Exception:
            pass
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    declare_problem_responses(app.router.routes)
    for router in routers:
        declare_problem_responses(router.routes)
        app.include_router(router)
    install_problem_schema(app)
    return app
