"""HTTP API of the impact service."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
