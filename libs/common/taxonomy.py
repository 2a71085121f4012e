"""The shared vocabularies that travel in events: item categories and service kinds.

The exchange service validates listings against them; the impact service maps each item
category to its factors (services/impact/factors/).
"""

from __future__ import annotations

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
SERVICE_KINDS: tuple[str, ...] = (
    "repair",
    "gardening",
    "carpool",
    "help_at_home",
    "cooking",
    "tutoring",
    "group_purchase",
)
