"""RFC 9457 problem details: every error a service returns is `application/problem+json`.

Raise a `Problem` subclass from domain or API code; the handlers installed by
`install_problem_handlers` turn it, validation errors, HTTP errors, database conflicts and
unexpected exceptions into problem documents. Validation problems name each field.

A problem a person can meet also carries a stable `code` and its `params` (RFC 9457
extension members), e.g. `{"code": "credits.debit_limit", "params": {"limit_minutes": 1200}}`:
clients (the portal) word it in the reader's language from these, never from `detail`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from libs.common.logs import get_logger

log = get_logger(__name__)
MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://sharitories.org/problems/"


class Problem(Exception):
    """A failure the caller can understand and act on."""

    status = 400
    title = "Bad request"
    slug = "bad-request"

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        code: str | None = None,
        params: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.extra = extra
        if code:
            self.extra["code"] = code
            self.extra["params"] = dict(params or {})
        if field:
            self.extra["errors"] = [{"field": field, "message": detail}]

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body = {
            "type": TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class Invalid(Problem):
    status, title, slug = 422, "Invalid input", "invalid"


class Unauthorized(Problem):
    status, title, slug = 401, "Authentication required", "unauthorized"


class Forbidden(Problem):
    status, title, slug = 403, "Forbidden", "forbidden"


class VerificationRequired(Forbidden):
    """The account exists but staff have not verified it yet: it may browse, not spend."""

    title, slug = "Verification required", "verification-required"


class NotFound(Problem):
    status, title, slug = 404, "Not found", "not-found"


class Conflict(Problem):
    status, title, slug = 409, "Conflict", "conflict"


class TooManyRequests(Problem):
    status, title, slug = 429, "Too many requests", "too-many-requests"


class ContentTooLarge(Problem):
    status, title, slug = 413, "Content too large", "content-too-large"


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


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        return problem_response(exc, request)

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
