"""The layout's rules that a test can hold: a service's `domain.py` is pure, and a
vocabulary shared by several apps (here the territory) has one home in libs/common.

Purity: each module is imported alone in a fresh interpreter and the libraries it pulled in
are read from `sys.modules`, so an import through a libs module (or another service module)
counts as much as a direct one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from libs.common import territory
from services.budget.config import DEFAULT_TERRITORY_FILE as BUDGET_FILE
from services.budget.config import load_territory as load_budget_territory
from services.impact.config import DEFAULT_TERRITORY_FILE as IMPACT_FILE
from services.impact.config import load_territory as load_impact_territory
from services.portal.territory import DEFAULT_STREETS_FILE, load_directory

ROOT = Path(__file__).resolve().parents[1]
IMPURE = ("fastapi", "sqlalchemy", "httpx", "starlette")
# Modules a domain may import whatever it is: they must stay pure too.
PURE_LIBS = ("libs.common.problems", "libs.common.rules", "libs.common.taxonomy")


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


DOMAINS = sorted(_module(p) for p in (ROOT / "services").rglob("domain.py"))


def _pulled_in(module: str) -> list[str]:
    probe = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(IMPURE)!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_service_has_a_domain_module():
    services = {p.name for p in (ROOT / "services").iterdir() if (p / "__init__.py").exists()}
    with_domain = {m.split(".")[1] for m in DOMAINS}
    assert {"budget", "crowdfunding", "exchange"} <= with_domain <= services


@pytest.mark.parametrize("module", DOMAINS + list(PURE_LIBS))
def test_domain_modules_import_no_web_database_or_http_library(module):
    assert _pulled_in(module) == [], f"{module} imports I/O libraries; keep its rules pure"


def test_the_probe_sees_an_impure_module():
    assert set(_pulled_in("libs.common.web")) >= {"fastapi", "sqlalchemy", "starlette"}


# --- one territory: the services and the portal's street directory use the same codes


def test_the_demo_territory_has_named_and_counted_neighbourhoods():
    hoods = territory.neighbourhoods()
    assert len(hoods) >= 2 and len(set(territory.codes())) == len(hoods)
    assert all(n.name and n.population and n.population > 0 for n in hoods)


def test_budget_and_impact_read_the_one_territory_by_default():
    assert BUDGET_FILE == IMPACT_FILE == territory.TERRITORY_FILE
    assert load_budget_territory(BUDGET_FILE).codes == territory.codes()
    assert load_impact_territory(IMPACT_FILE).codes == territory.codes()


def test_the_street_directory_covers_exactly_the_territory():
    directory = load_directory(DEFAULT_STREETS_FILE)
    assert set(directory.codes) == set(territory.codes())
    names = {n.code: n.name for n in territory.neighbourhoods()}
    assert {c: directory.name_of(c) for c in directory.codes} == names
