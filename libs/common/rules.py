"""Refusals a domain module raises, in the domain's words and without HTTP.

A pure `domain.py` says *why* the rules refuse (the input is wrong, the current state does not
allow the step, this person may not) and leaves the status code to the edge:
`libs.common.web.install_problem_handlers` turns each kind into its problem document
(`InputRefused` → 422, `StateRefused` → 409, `PersonRefused` → 403). Nothing here imports a
web or database library.
"""

from __future__ import annotations

from typing import Any


class RuleBroken(Exception):
    """A rule refuses: a sentence for people, a stable `code` and `params` for clients,
    and the input `field` at fault when there is one."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        params: dict[str, Any] | None = None,
        field: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.code, self.params, self.field = code, params, field
        self.extra = extra


class InputRefused(RuleBroken):
    """The input itself breaks a rule, whatever the state."""


class StateRefused(RuleBroken):
    """The input is well formed, but the current state does not allow the step."""


class PersonRefused(RuleBroken):
    """This person may not take the step."""


class UnverifiedRefused(PersonRefused):
    """This person's account must be verified by staff first."""
