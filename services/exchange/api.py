"""HTTP API of the exchange service."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
