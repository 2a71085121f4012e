"""RFC 9457 problem details: every error a service returns is `application/problem+json`.

Raise a `Problem` subclass from use-case or API code; the handlers that
`libs.common.web.install_problem_handlers` installs turn it, validation errors, HTTP errors,
database conflicts, domain refusals (`libs.common.rules`) and unexpected exceptions into problem
documents. Validation problems name each field. Plain exception classes only: no web or
database import here, so that any module may raise them.

A problem a person can meet also carries a stable `code` and its `params` (RFC 9457
extension members), e.g. `{"code": "credits.debit_limit", "params": {"limit_minutes": 1200}}`:
clients (the portal) word it in the reader's language from these, never from `detail`.
"""

from __future__ import annotations

from typing import Any

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
