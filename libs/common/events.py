"""The event envelope shared by every service, and the registry of event contracts.

An event travels as JSON on subject `sharitories.<service>.<aggregate>.<event>`, where
`<service>.<aggregate>.<event>` is its `type`. Its `data` follows a versioned contract:
a pydantic model registered with `@contract(type, version)` in
`libs/common/contracts/<service>.py`. A breaking change is a new version, never an edit.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from libs.common.ids import new_id

SUBJECT_PREFIX = "sharitories"
STREAM = "SHARITORIES"
DEAD_LETTER_STREAM = "SHARITORIES_DEADLETTER"
DEAD_LETTER_PREFIX = "deadletter"
_TYPE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


class Territory(BaseModel):
    """Where an event happened: the city and, when known, the neighbourhood code."""

    model_config = ConfigDict(frozen=True)
    city: str
    neighbourhood: str | None = None


class Envelope(BaseModel):
    """One event, as stored in the outbox and carried on the wire."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    # Checked by pydantic-core (Rust), not Python validators: consumers parse thousands a second.
    type: str = Field(pattern=_TYPE.pattern)
    version: int = 1
    occurred_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    source: str
    aggregate_id: str
    actor: str | None = None  # a pseudonymous id, never a name or an e-mail
    territory: Territory
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def subject(self) -> str:
        return subject_for(self.type)

    def payload(self) -> BaseModel:
        """The `data` parsed with its registered contract."""
        return contract_for(self.type, self.version).model_validate(self.data)


def subject_for(event_type: str) -> str:
    return f"{SUBJECT_PREFIX}.{event_type}"


def type_of(subject: str) -> str:
    return subject.removeprefix(SUBJECT_PREFIX + ".")


class UnknownContract(LookupError):
    """No contract is registered for this (type, version)."""


_REGISTRY: dict[tuple[str, int], type[BaseModel]] = {}
M = TypeVar("M", bound=type[BaseModel])


def contract(event_type: str, version: int = 1):
    """Register a pydantic model as the data contract of `event_type` at `version`."""

    def register(model: M) -> M:
        key = (event_type, version)
        if key in _REGISTRY and _REGISTRY[key] is not model:
            raise ValueError(f"contract {event_type} v{version} is already registered")
        if not _TYPE.match(event_type):
            raise ValueError(f"bad event type {event_type!r}")
        _REGISTRY[key] = model
        model.__event_type__ = event_type  # type: ignore[attr-defined]
        model.__event_version__ = version  # type: ignore[attr-defined]
        return model

    return register


def contract_for(event_type: str, version: int) -> type[BaseModel]:
    _load_contracts()
    try:
        return _REGISTRY[(event_type, version)]
    except KeyError:
        raise UnknownContract(f"{event_type} v{version}") from None


def registered_contracts() -> dict[tuple[str, int], type[BaseModel]]:
    _load_contracts()
    return dict(_REGISTRY)


def make_event(
    data: BaseModel,
    *,
    aggregate_id: str,
    territory: Territory,
    actor: str | None = None,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Wrap a registered contract instance in an envelope."""
    event_type = data.__event_type__  # type: ignore[attr-defined]
    extra = {"occurred_at": occurred_at} if occurred_at else {}
    return Envelope(
        type=event_type,
        version=data.__event_version__,  # type: ignore[attr-defined]
        source=event_type.split(".", 1)[0],
        aggregate_id=str(aggregate_id),
        actor=actor,
        territory=territory,
        data=data.model_dump(mode="json"),
        **extra,
    )


@cache
def _load_contracts() -> None:
    # Importing the modules runs their @contract decorators; once is enough (consumers
    # look contracts up for every event).
    from libs.common.contracts import budget, crowdfunding, debate, exchange, impact  # noqa: F401
