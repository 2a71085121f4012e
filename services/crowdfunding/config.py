"""Settings of the crowdfunding service (its clock is the platform's: libs/common/clock.py).

Read from the environment (they are the service's own, so they live here rather than in
libs.common.settings):

- `CROWDFUNDING_WEBHOOK_SECRET`: HMAC secret of the sandbox provider's webhooks.
- `CROWDFUNDING_SETTLEMENT_INTERVAL` (10): seconds between background settlement passes;
  0 disables the loop (it is always off when SHARITORIES_ENV=test).
- `CROWDFUNDING_SANDBOX_DELIVERY_INTERVAL` (1): seconds between sandbox webhook deliveries.
- `CROWDFUNDING_SETTLEMENT_LEASE` (20): seconds a settlement worker holds a campaign
  before another may resume it; renewed every third of it while the worker lives, so a
  dead worker's campaign resumes within lease + interval (30 s by default).
- `CROWDFUNDING_SETTLEMENT_GRACE` (900): seconds after the deadline during which
  settlement waits for pledges whose card answer or 3-D Secure step is still due.
- `CROWDFUNDING_PAYMENT_PROVIDER` (sandbox): `sandbox` or `stripe`.
- `STRIPE_SECRET_KEY`, `STRIPE_WEBHOOK_SECRET`, `STRIPE_API_BASE`: the Stripe adapter's key,
  its webhook signing secret, and where the library sends its calls (tests: a local fake).
- `CROWDFUNDING_STRIPE_RETURN_URL`: where Stripe sends a backer back after 3-D Secure.
- `CROWDFUNDING_COMMISSION_BASE` (raised): `raised` or `raised_plus_match`, frozen on each
  campaign at launch (see domain.DEFAULT_COMMISSION_BASE for why raised is the default).
"""

from __future__ import annotations

from typing import Literal

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
    settlement_grace_seconds: float = Field(900.0, alias="CROWDFUNDING_SETTLEMENT_GRACE", ge=0)
    payment_provider: Literal["sandbox", "stripe"] = Field(
        "sandbox", alias="CROWDFUNDING_PAYMENT_PROVIDER"
    )
    stripe_secret_key: str = Field("", alias="STRIPE_SECRET_KEY")
    stripe_webhook_secret: str = Field("", alias="STRIPE_WEBHOOK_SECRET")
    stripe_api_base: str = Field("https://api.stripe.com", alias="STRIPE_API_BASE")
    stripe_return_url: str = Field(
        "http://localhost:8000/my-pledges", alias="CROWDFUNDING_STRIPE_RETURN_URL"
    )
    commission_base: Literal["raised", "raised_plus_match"] = Field(
        "raised", alias="CROWDFUNDING_COMMISSION_BASE"
    )
