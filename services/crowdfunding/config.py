"""Settings of the crowdfunding service, and its clock.

Read from the environment (they are the service's own, so they live here rather than in
libs.common.settings):

- `CROWDFUNDING_WEBHOOK_SECRET`: HMAC secret of the sandbox provider's webhooks.
- `CROWDFUNDING_SETTLEMENT_INTERVAL` (10): seconds between background settlement passes;
  0 disables the loop (it is always off when SHARITORIES_ENV=test).
- `CROWDFUNDING_SANDBOX_DELIVERY_INTERVAL` (1): seconds between sandbox webhook deliveries.
- `CROWDFUNDING_SETTLEMENT_LEASE` (20): seconds a settlement worker holds a campaign
  before another may resume it; renewed every third of it while the worker lives, so a
  dead worker's campaign resumes within lease + interval (30 s by default).
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CrowdfundingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    webhook_secret: str = Field(
        "sandbox-webhook-secret-change-me", alias="CROWDFUNDING_WEBHOOK_SECRET"
    )
    settlement_interval: float = Field(10.0, alias="CROWDFUNDING_SETTLEMENT_INTERVAL")
    sandbox_delivery_interval: float = Field(1.0, alias="CROWDFUNDING_SANDBOX_DELIVERY_INTERVAL")
    settlement_lease_seconds: float = Field(20.0, alias="CROWDFUNDING_SETTLEMENT_LEASE")


def now() -> datetime:
    """The current instant (UTC, aware). Tests move time by replacing this function."""
    return datetime.now(UTC)
