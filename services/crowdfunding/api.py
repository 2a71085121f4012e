"""HTTP API of the crowdfunding service."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
