"""HTTP API of the budget service."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
