from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = ["libs.common.testing"]

BROWSER_TESTS = Path(__file__).parent / "tests" / "browser"

# The suite runs on pytest-xdist workers sharing two cores: a property that takes 20 ms
# alone can take a second there, which is no bug. Speed is measured in bench/, not here.
settings.register_profile(
    "suite", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("suite")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep the browser tests on one pytest-xdist worker: they share one platform and one
    town (package-scoped fixtures), and some move its clock, so they run in file order.
    Then hand out the longest work first, so that no worker ends the run alone with it."""
    for item in items:
        if BROWSER_TESTS in item.path.parents:
            item.add_marker(pytest.mark.xdist_group("browser"))
    items.sort(key=lambda item: not _runs_for_minutes(item))


def _runs_for_minutes(item: pytest.Item) -> bool:
    return BROWSER_TESTS in item.path.parents or item.get_closest_marker("long") is not None
