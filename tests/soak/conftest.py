"""The soak test runs only when asked (`make soak`): it takes a few minutes."""

import os

import pytest


def pytest_collection_modifyitems(config, items):
    if os.environ.get("SHARITORIES_SOAK") == "1":
        return
    skip = pytest.mark.skip(reason="soak test: run `make soak` (SHARITORIES_SOAK=1)")
    for item in items:
        if "tests/soak/" in str(item.fspath):
            item.add_marker(skip)
