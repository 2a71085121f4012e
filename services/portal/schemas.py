"""Request and response models of the portal's JSON API (staff tools)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from libs.common.types import Birthdate, StrictFlag


class AccountIn(BaseModel):
    id: str | None = Field(None, min_length=1, max_length=100, description="e.g. a member id")
    email: str = Field(max_length=320)
    display_name: str = Field(max_length=100)
    password: str = Field(max_length=1000)
    address: str = Field(max_length=500)
    roles: list[str] = Field(default_factory=lambda: ["resident"])
    verified: StrictFlag = False
    birthdate: Birthdate | None = Field(None, description="checked on the resident's papers")


class AccountOut(BaseModel):
    id: str
    email: str
    neighbourhood: str | None  # from the address, through the street directory
    roles: list[str]
    verified: bool
    birthdate: str | None  # ISO date
