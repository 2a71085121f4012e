"""The FastAPI shell every service shares: lifespan, request ids, health, metrics, errors.

Errors: `install_problem_handlers` turns problems (libs/common/problems.py), domain refusals
(libs/common/rules.py), validation and HTTP errors, database conflicts and unexpected
exceptions into RFC 9457 problem documents."""

from __future__ import annotations

import hmac
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from libs.common import tracing
from libs.common.golive import refuse_unsafe_production
from libs.common.logs import bound_context, configure_logging, get_logger
from libs.common.metrics import (
    HTTP_LATENCY,
    HTTP_REQUESTS,
    OUTBOX_OLDEST_PENDING,
    OUTBOX_PENDING,
    READY,
)
from libs.common.openapi import declare_problem_responses, install_problem_schema
from libs.common.outbox import backlog
from libs.common.problems import (
    MEDIA_TYPE,
    Conflict,
    ContentTooLarge,
    Forbidden,
    Invalid,
    NotFound,
    Problem,
    Unauthorized,
    VerificationRequired,
)
from libs.common.rules import (
    InputRefused,
    PersonRefused,
    RuleBroken,
    StateRefused,
    UnverifiedRefused,
)
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
        # prometheus_client's labels() takes a lock and builds a key on every call; the
        # label sets are few (routes x methods x statuses), so keep their children here.
        self._counted: dict[tuple[str, str, int], object] = {}
        self._timed: dict[tuple[str, str], object] = {}

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
            counted = self._counted.get((method, path, status))
            if counted is None:
                counted = HTTP_REQUESTS.labels(self.service, method, path, status)
                self._counted[method, path, status] = counted
            counted.inc()
            timed = self._timed.get((method, path))
            if timed is None:
                timed = self._timed[method, path] = HTTP_LATENCY.labels(self.service, method, path)
            timed.observe(time.perf_counter() - start)


class BodyTooLarge(StarletteHTTPException):
    """Raised from `receive` once a body passes the limit. An HTTPException, because
    FastAPI turns any other error met while reading a body into a 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


class BodyLimit:
    """Pure ASGI middleware: refuse request bodies over `max_bytes` with 413, by their
    Content-Length before reading anything, and by counting while reading (chunked or
    lying bodies), so a huge body is never read whole."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit():
            if int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        received = 0
        started = False

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watching_send(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            # Read outside a route (e.g. by a middleware): answer here if nothing was sent.
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope, receive, send) -> None:
        problem = ContentTooLarge(f"The request body is larger than {self.max_bytes} bytes.")
        response = JSONResponse(
            problem.to_dict(scope.get("path")),
            status_code=413,
            media_type=MEDIA_TYPE,
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")[:200]
    return None


def _check_metrics_token(request: Request, expected: str | None) -> None:
    if not expected:
        raise NotFound("Not found.")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized("Send the metrics token as a bearer token.")


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
    if settings.env == "production":
        # Before anything is created or bound: uvicorn exits with our status.
        refuse_unsafe_production(services=(name,))
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

    app.add_middleware(BodyLimit, max_bytes=settings.request_max_bytes)
    app.add_middleware(RequestContext, service=name)
    if tracing.configure(name) and not tracing.FASTAPI_TRACES_REQUESTS:
        app.add_middleware(tracing.TraceRequests)  # only with OTEL_EXPORTER_OTLP_ENDPOINT

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
        """Ready to serve: the database answers at the schema's head and NATS is connected."""
        runtime: ServiceRuntime = request.app.state.runtime
        checks = {"database": "ok", "schema": "ok", "nats": "ok"}
        try:
            await runtime.db.ping()
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        if not await runtime.check_schema():
            checks["schema"] = "not migrated to head"
        if not runtime.nats_connected():
            checks["nats"] = "unreachable"
        ready = all(v == "ok" for v in checks.values())
        READY.labels(name).set(1 if ready else 0)
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
        """Prometheus metrics (production: `Authorization: Bearer <METRICS_TOKEN>`)."""
        if settings.env == "production":
            _check_metrics_token(request, settings.metrics_token)
        runtime: ServiceRuntime = request.app.state.runtime
        try:
            pending, oldest_age = await backlog(runtime.db)
            OUTBOX_PENDING.labels(name).set(pending)
            OUTBOX_OLDEST_PENDING.labels(name).set(oldest_age)
        except Exception:
            pass
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    declare_problem_responses(app.router.routes)
    for router in routers:
        declare_problem_responses(router.routes)
        app.include_router(router)
    install_problem_schema(app)
    return app


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    instance = str(request.url.path) if request else None
    headers = {"WWW-Authenticate": "Bearer"} if problem.status == 401 else None
    return JSONResponse(
        problem.to_dict(instance),
        status_code=problem.status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def _field_path(loc: tuple) -> str:
    return ".".join(str(part) for part in loc)


# Most specific first: a refusal maps to the first kind in its class's ancestry.
RULE_PROBLEMS: tuple[tuple[type[RuleBroken], type[Problem]], ...] = (
    (UnverifiedRefused, VerificationRequired),
    (PersonRefused, Forbidden),
    (StateRefused, Conflict),
    (InputRefused, Invalid),
)


def problem_for(refusal: RuleBroken) -> Problem:
    """The problem document a domain refusal becomes at the edge."""
    kind = next((p for r, p in RULE_PROBLEMS if isinstance(refusal, r)), Problem)
    return kind(
        str(refusal),
        field=refusal.field,
        code=refusal.code,
        params=refusal.params,
        **refusal.extra,
    )


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        return problem_response(exc, request)

    @app.exception_handler(RuleBroken)
    async def _rule(request: Request, exc: RuleBroken):
        return problem_response(problem_for(exc), request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = [{"field": _field_path(e["loc"]), "message": e["msg"]} for e in exc.errors()]
        fields = ", ".join(e["field"] for e in errors)
        named = sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")})
        problem = Invalid(
            f"Invalid value for: {fields}",
            errors=errors,
            code="invalid",
            params={"fields": named},
        )
        return problem_response(problem, request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        problem = Problem(str(exc.detail))
        problem.status = exc.status_code
        problem.title = {404: "Not found", 405: "Method not allowed", 413: "Content too large"}.get(
            exc.status_code, "HTTP error"
        )
        problem.slug = problem.title.lower().replace(" ", "-")
        return problem_response(problem, request)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError):
        log.info("integrity error mapped to 409", error=str(exc.orig)[:300])
        return problem_response(
            Conflict("This conflicts with existing data (it may already exist)."), request
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error", path=request.url.path)
        problem = Problem("An unexpected error occurred; it has been logged.")
        problem.status, problem.title, problem.slug = 500, "Internal error", "internal"
        return problem_response(problem, request)
