"""Tables of the impact service."""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData()
