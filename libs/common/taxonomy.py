"""The shared vocabularies, one home each: services validate against them, events carry
them, the portal lists and words them (`services/portal/i18n`), the demo uses them.

- item categories and service kinds (exchange; impact maps each item category to its
  factors in services/impact/factors/, so never rename one);
- campaign categories (crowdfunding);
- the participatory budget's phases, in their order;
- member kinds (what `Principal.kind` says a caller is).

The territory (neighbourhood codes) is in libs/common/territory.py.
"""

from __future__ import annotations

from typing import Literal, get_args

ITEM_CATEGORIES: tuple[str, ...] = (
    "drill",
    "ladder",
    "bike",
    "cargo_bike",
    "tent",
    "sewing_machine",
    "lawn_mower",
    "hedge_trimmer",
    "pressure_washer",
    "tools_other",
    "kitchen_appliance",
    "vacuum_cleaner",
    "projector",
    "camera",
    "games_toys",
    "books",
    "sports_gear",
    "camping_gear",
    "furniture",
    "electronics_other",
    "other",
)
ServiceKind = Literal[
    "repair", "gardening", "carpool", "help_at_home", "cooking", "tutoring", "group_purchase"
]
SERVICE_KINDS: tuple[str, ...] = get_args(ServiceKind)
CAMPAIGN_CATEGORIES: tuple[str, ...] = (
    "culture",
    "environment",
    "solidarity",
    "sport",
    "local-business",
    "education",
    "public-space",
    "participatory-budget",
)
# An edition moves through these one step at a time, in this order.
PbPhase = Literal[
    "information", "proposals", "pre_selection", "assessment", "voting", "results", "delivery"
]
PB_PHASES: tuple[str, ...] = get_args(PbPhase)
# Campaign states anyone may see (a draft, or one under review, is its holder's and staff's).
PUBLIC_CAMPAIGN_STATES: tuple[str, ...] = ("live", "settling", "succeeded", "failed", "paid_out")
MemberKind = Literal["resident", "organisation", "staff"]
MEMBER_KINDS: tuple[str, ...] = get_args(MemberKind)
