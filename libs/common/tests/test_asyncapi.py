"""The AsyncAPI document says what every published event looks like, and stays up to date."""

from __future__ import annotations

import json
import re

import jsonschema_rs
import pytest

from libs.common.asyncapi import ASYNCAPI_FILE, channel_id, document, message_id, render
from libs.common.contracts.crowdfunding import CampaignSucceeded
from libs.common.events import Territory, make_event, registered_contracts, subject_for

DOC = document()


def _resolve(ref: str) -> dict:
    node = DOC
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _validator(event_type: str, version: int):
    """The message's payload schema, its references resolved against the document."""
    payload = DOC["components"]["messages"][message_id(event_type, version)]["payload"]
    return jsonschema_rs.validator_for({**payload, "components": DOC["components"]})


def test_it_is_an_asyncapi_3_document_with_one_send_operation_per_channel():
    assert DOC["asyncapi"] == "3.0.0"
    assert set(DOC["operations"]) == {f"{c}_publish" for c in DOC["channels"]}
    for operation in DOC["operations"].values():
        assert operation["action"] == "send"
        channel = operation["channel"]["$ref"]
        assert all(m["$ref"].startswith(channel + "/messages/") for m in operation["messages"])
    for key in (*DOC["channels"], *DOC["operations"]):
        assert re.fullmatch(r"[A-Za-z0-9_\-]+", key), key


def test_every_registered_contract_is_a_message_on_its_subject():
    contracts = registered_contracts()
    assert len(contracts) >= 30
    for (event_type, version), model in contracts.items():
        channel = DOC["channels"][channel_id(event_type)]
        assert channel["address"] == subject_for(event_type)
        message = _resolve(channel["messages"][f"v{version}"]["$ref"])
        assert message["name"] == event_type
        pinned = message["payload"]["allOf"][1]["properties"]
        assert pinned["type"] == {"const": event_type}
        assert pinned["version"] == {"const": version}
        data = _resolve(pinned["data"]["$ref"])
        fields = {f.alias or name for name, f in model.model_fields.items()}
        assert set(data["properties"]) == fields, event_type
    assert len(DOC["components"]["messages"]) == len(contracts)


def test_every_reference_resolves():
    refs = set(re.findall(r'"\$ref": "([^"]+)"', json.dumps(DOC)))
    assert refs
    for ref in refs:
        assert isinstance(_resolve(ref), dict), ref


def test_a_real_event_matches_its_message_and_not_another_version():
    data = CampaignSucceeded(
        campaign_id="c",
        holder_id="h",
        holder_kind="organisation",
        category="culture",
        neighbourhood="gare",
        goal_cents=100_000,
        deadline="2026-12-01T00:00:00Z",
        commission_rate="0.05",
        backers=3,
        raised_cents=90_000,
        matched_cents=10_000,
        total_cents=100_000,
        commission_cents=5_000,
        net_cents=95_000,
    )
    envelope = make_event(data, aggregate_id="c", territory=Territory(city="valmont"))
    wire = json.loads(envelope.model_dump_json())
    validator = _validator(envelope.type, envelope.version)
    assert validator.is_valid(wire)
    assert not validator.is_valid({**wire, "version": 2})
    assert not validator.is_valid({**wire, "data": {**wire["data"], "raised_cents": "lots"}})


def test_the_committed_document_is_the_generated_one():
    if not ASYNCAPI_FILE.exists():
        pytest.fail(f"{ASYNCAPI_FILE} is missing: run `sharitories contracts --asyncapi`")
    assert ASYNCAPI_FILE.read_text(encoding="utf-8") == render(), (
        "the contracts changed: run `sharitories contracts --asyncapi` and commit the result"
    )
