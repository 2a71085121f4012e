"""What every page shares: templates, the session's account, CSRF, flash messages, errors."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape

from libs.common.ids import new_id
from libs.common.money import AmountUnreadable
from services.portal import accounts as accounts_mod
from services.portal import sessions
from services.portal.accounts import Account
from services.portal.backends import BackendDown, BackendProblem, Backends, Caller
from services.portal.i18n import (
    LANGUAGES,
    format_cents,
    format_day,
    format_euro_text,
    format_minutes,
    format_number,
    format_percent,
    label,
    pick_language,
    problem_message,
    translate,
)
from services.portal.territory import directory

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _filter(format_in):
    """A Jinja filter that formats in the page's language (the `lang` of the context)."""

    @pass_context
    def apply(context, value, *args, **kwargs):
        return format_in(value, context.get("lang", "fr"), *args, **kwargs)

    return apply


# {{ x|number(1) }} → "380,0"; {{ r|percent }}; {{ c|money }}; {{ d|day }}; {{ m|duration }};
# {{ c.category|label('ccat') }} → the catalogue's word (never a raw key).
TEMPLATES.filters.update(
    number=_filter(lambda v, lang, decimals=None: format_number(v, lang, decimals=decimals)),
    percent=_filter(
        lambda v, lang, decimals=1, ratio=False: format_percent(
            v, lang, decimals=decimals, ratio=ratio
        )
    ),
    money=_filter(format_cents),
    euro_text=_filter(format_euro_text),
    day=_filter(format_day),
    duration=_filter(format_minutes),
    label=_filter(lambda v, lang, prefix: label(lang, prefix, v)),
)


class LoginRequired(Exception):
    pass


class NotAllowed(Exception):
    def __init__(self, key: str = "error.forbidden") -> None:
        self.key = key


class FormInvalid(Exception):
    """A form field is wrong: the page is shown again with the message beside the field."""

    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message


def language(request: Request) -> str:
    return pick_language(
        session_lang=request.session.get("lang"),
        accept_language=request.headers.get("accept-language"),
    )


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(24)
    return token


def flash(request: Request, message: str, kind: str = "info") -> None:
    request.session.setdefault("flash", []).append([kind, message])


async def backends(request: Request) -> Backends:
    return request.app.state.backends


def runtime(request: Request):
    return request.app.state.runtime


async def viewer(request: Request) -> Account | None:
    """The logged-in account (read fresh each request: roles and status apply at once)."""
    if "account" in request.state._state:
        return request.state.account
    token = request.session.get("sid")
    account = None
    if token:
        lifetime = request.app.state.portal_settings.session_lifetime
        async with runtime(request).db.transaction() as session:
            account_id = await sessions.resume(session, token=token, lifetime=lifetime)
            if account_id:
                account = await accounts_mod.find_account(session, account_id=account_id)
        if account is None:
            request.session.pop("sid", None)
    request.state.account = account
    return account


async def start_session(request: Request, account: Account) -> None:
    """A fresh session on log-in (no fixation): only the language survives."""
    lang = request.session.get("lang")
    lifetime = request.app.state.portal_settings.session_lifetime
    async with runtime(request).db.transaction() as session:
        await sessions.forget_expired(session, lifetime=lifetime)
        token = await sessions.open_session(session, account_id=account.id)
    request.session.clear()
    request.session["sid"] = token
    request.session["csrf"] = secrets.token_urlsafe(24)
    request.session["lang"] = lang or account.language
    request.state.account = account


async def end_session(request: Request) -> None:
    """Log out: the server forgets the session, so a copy of the cookie opens nothing."""
    token = request.session.get("sid")
    if token:
        async with runtime(request).db.transaction() as session:
            await sessions.revoke(session, token=token)
    lang = request.session.get("lang")
    request.session.clear()
    if lang:
        request.session["lang"] = lang
    request.state.account = None


async def member(account: Annotated[Account | None, Depends(viewer)]) -> Account:
    if account is None:
        raise LoginRequired()
    return account


async def staff(account: Annotated[Account, Depends(member)]) -> Account:
    if not account.is_staff:
        raise NotAllowed()
    return account


async def admin(account: Annotated[Account, Depends(member)]) -> Account:
    if "admin" not in account.roles:
        raise NotAllowed()
    return account


async def reviewer(account: Annotated[Account, Depends(member)]) -> Account:
    if not account.is_reviewer:
        raise NotAllowed()
    return account


Viewer = Annotated[Account | None, Depends(viewer)]
Member = Annotated[Account, Depends(member)]
Staff = Annotated[Account, Depends(staff)]
Reviewer = Annotated[Account, Depends(reviewer)]
Admin = Annotated[Account, Depends(admin)]
Services = Annotated[Backends, Depends(backends)]


async def form_data(request: Request) -> dict[str, Any]:
    """The posted form, after checking its CSRF token (403 page otherwise)."""
    form = await request.form()
    sent = form.get("csrf", "")
    expected = request.session.get("csrf", "")
    if not expected or not secrets.compare_digest(str(sent), expected):
        raise NotAllowed("error.csrf")
    data: dict[str, Any] = {}
    for key in form:
        values = form.getlist(key)
        data[key] = values if len(values) > 1 or key.endswith("[]") else values[0]
    return data


Form = Annotated[dict[str, Any], Depends(form_data)]


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    account = getattr(request.state, "account", None)

    def t(key: str, **values: Any) -> str:
        return translate(lang, key, **values)

    html = TEMPLATES.get_template(template).render(
        request=request,
        lang=lang,
        languages=LANGUAGES,
        t=t,
        me=account,
        csrf=csrf_token(request),
        flashes=request.session.pop("flash", []),
        euros=lambda cents: format_cents(cents, lang),
        minutes=lambda m: format_minutes(m, lang),
        day=lambda value: format_day(value, lang),
        nbhd=directory().name_of,
        directory=directory(),
        path=request.url.path,
        new_key=new_id,
        sandbox_money=sandbox_money(request),
        **context,
    )
    return HTMLResponse(html, status_code=status)


def sandbox_money(request: Request) -> bool:
    """Production running the sandbox payment provider (an explicit opt-in): no real money
    moves, and every page must say so."""
    portal = getattr(request.app.state, "portal_settings", None)
    runtime_ = getattr(request.app.state, "runtime", None)
    return bool(
        portal is not None
        and runtime_ is not None
        and runtime_.settings.env == "production"
        and portal.payment_provider == "sandbox"
    )


def wants_problem(request: Request) -> bool:
    """A script (Accept: JSON, not HTML) gets problem+json rather than a page."""
    accept = request.headers.get("accept", "")
    return "json" in accept and "text/html" not in accept


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def safe_next(url: str | None, default: str = "/") -> str:
    """Only same-site paths, never //host or a scheme (no open redirect)."""
    if url and url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return url
    return default


def caller(account: Account) -> Caller:
    return Caller.of(account)


class NumberUnreadable(ValueError):
    """A whole number typed in a form that is not one ("abc", "2,5" minutes)."""


def whole_number(text: object, *, default: int | None = 0) -> int | None:
    """A whole number as typed ("1 200" too); NumberUnreadable (shown translated) if not."""
    cleaned = str(text or "").strip()
    for space in (" ", "\u00a0", "\u202f"):
        cleaned = cleaned.replace(space, "")
    if not cleaned:
        return default
    try:
        return int(cleaned)
    except ValueError:
        raise NumberUnreadable(str(text)) from None


def decimal_number(text: object) -> float | None:
    """A decimal as typed, French or English ("12,5" or "12.5"); None when left empty."""
    cleaned = str(text or "").strip().replace(",", ".")
    if not cleaned:
        return None
    try:
        return float(cleaned)
    except ValueError:
        raise NumberUnreadable(str(text)) from None


def problem_text(request: Request, exc: Exception) -> str:
    lang = language(request)
    if isinstance(exc, AmountUnreadable):
        return translate(lang, f"amount.{exc.reason}")
    if isinstance(exc, NumberUnreadable):
        return translate(lang, "error.number_unreadable", typed=str(exc))
    if isinstance(exc, BackendDown):
        return translate(lang, "error.backend_down", service=translate(lang, f"svc.{exc.service}"))
    if isinstance(exc, BackendProblem) and exc.needs_verification:
        return translate(lang, "error.verification_required")
    if isinstance(exc, BackendProblem):
        # Worded from the problem's code, never from the service's English detail.
        return problem_message(lang, code=exc.code, params=exc.params, status=exc.status)
    return str(exc)


def install_page_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect(f"/login?next={quote(target)}")

    @app.exception_handler(NotAllowed)
    async def _forbidden(request: Request, exc: NotAllowed) -> Response:
        await viewer(request)
        return render(request, "error.html", status=403, message_key=exc.key)

    @app.exception_handler(BackendDown)
    async def _down(request: Request, exc: BackendDown) -> Response:
        await viewer(request)
        return render(request, "error.html", status=503, message=problem_text(request, exc))

    @app.exception_handler(BackendProblem)
    async def _problem(request: Request, exc: BackendProblem) -> Response:
        await viewer(request)
        status = exc.status if exc.status in (401, 403, 404, 409, 422) else 502
        return render(request, "error.html", status=status, message=problem_text(request, exc))


def back_with_problem(request: Request, url: str, exc: Exception) -> RedirectResponse:
    """After a refused action: back to the page, with the reason shown on top."""
    flash(request, problem_text(request, exc), "error")
    return redirect(url)
