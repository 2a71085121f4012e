"""The Method of Equal Shares (Peters & Skowron), as the budget service counts it.

- ``model``: the typed model (projects, costs, ballot groups, utilities) and ``Run``;
- ``exact``: one exact MES run (Fractions and ints) and exact block certification;
- ``fast``: the same run in float64 whose every decision is certified, or None;
- ``endowments``: the Add1 loop over endowments (``add1``), with certified skipping;
- ``reference``: the textbook method as the paper states it, slow and obviously right: the
  oracle of the property tests.

``tally.mes`` / ``tally.mes_add1`` turn a ``Problem`` into a ``Model``, call ``add1`` and
word the result; nothing outside this package reads its internals.
"""

from services.budget.mes.endowments import add1, exhaustive, explained_run, plain_run
from services.budget.mes.exact import certify, run
from services.budget.mes.model import Ballot, Model, Number, Run, as_number, group_ballots

__all__ = [
    "Ballot",
    "Model",
    "Number",
    "Run",
    "add1",
    "as_number",
    "certify",
    "exhaustive",
    "explained_run",
    "group_ballots",
    "plain_run",
    "run",
]
