"""Tables of the crowdfunding service."""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData()
