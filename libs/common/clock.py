"""The platform's one clock: every service reads the time here, and nowhere else.

Use-case code calls `clock.now()` (an aware UTC instant) or `clock.today()` (its UTC date);
a route that decides by the day asks for the `Today` dependency. Tests move time for the
whole process with `monkeypatch.setattr(clock, "now", fake)`, or for one app's routes only
with `app.dependency_overrides[today] = lambda: day`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import Depends


class Clock:
    """Where the time comes from: the system's clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return self.now().date()


clock = Clock()


async def today() -> date:
    """FastAPI dependency: today's date (UTC) by the platform clock."""
    return clock.today()


Today = Annotated[date, Depends(today)]
