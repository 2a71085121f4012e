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
    """Hand out the longest work first, so that no worker ends the run alone with it."""
    items.sort(key=lambda item: not _runs_for_minutes(item))


def _runs_for_minutes(item: pytest.Item) -> bool:
    return BROWSER_TESTS in item.path.parents or item.get_closest_marker("long") is not None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Keep the browser tests on one pytest-xdist worker, in file order: they share one
    platform and one town (package-scoped fixtures), and some move its clock. Every other
    test goes to whichever worker is free. (xdist's own `loadgroup` marks are ignored under
    pytest 9, whose node ids it can no longer suffix.)"""
    from xdist.scheduler import LoadScopeScheduling

    class BrowserTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "browser" if nodeid.startswith("tests/browser/") else nodeid

    return BrowserTogether(config, log)
