"""Contracts refuse personal data in free text, and ids of people that are not pseudonymous."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from libs.common.contracts import budget as pb
from libs.common.contracts import crowdfunding as cf
from libs.common.ids import new_id
from libs.common.publictext import personal_data_in

PERSONAL = [
    "write to jane.doe@example.org",
    "Call 06 12 34 56 78",
    "+33 6 12 34 56 78",
    "tel: 0612345678",
    "(555) 123-4567",
]
PUBLIC = [
    "Park benches",
    "Budget 2026-2027",
    "delivered on 2026-03-15",
    "Piste cyclable: 1 500 000 €",
    "Projet n°12345678",
    "",
]


@pytest.mark.parametrize("text", PERSONAL)
def test_personal_data_is_found(text):
    assert personal_data_in(text) is not None


@pytest.mark.parametrize("text", PUBLIC)
def test_ordinary_text_passes(text):
    assert personal_data_in(text) is None


def test_contracts_refuse_personal_data_in_free_text_naming_the_field():
    with pytest.raises(ValidationError) as err:
        pb.ResultProject(proposal_id="p", title="Contact jane@example.org", cost_cents=1)
    assert err.value.errors()[0]["loc"] == ("title",)
    with pytest.raises(ValidationError):
        pb.ProjectMilestone(
            edition_id="e", proposal_id="p", status="planned", on="2026-01-01", cost_cents=1,
            note="ask 06 12 34 56 78",
        )  # fmt: skip
    with pytest.raises(ValidationError):
        cf.MatchPoolCreated(pool_id="p", name="pool of bob@example.org", budget_cents=1,
                            match_factor="1")  # fmt: skip


@pytest.mark.parametrize("bad", ["dora@example.org", "06 12 34 56 78", "0612345678", "dora d"])
def test_ids_of_people_must_be_pseudonymous(bad):
    with pytest.raises(ValidationError) as err:
        pb.ProposalSubmitted(proposal_id="p", edition_id="e", author_id=bad)
    assert err.value.errors()[0]["loc"] == ("author_id",)


@given(st.integers(0, 50))
def test_the_platforms_ids_are_pseudonymous(_):
    for value in (new_id(), f"desk:{new_id()}", "m-b1", "dora"):
        pb.ProposalSubmitted(proposal_id="p", edition_id="e", author_id=value)
