"""The AsyncAPI 3.0 document of the platform's events, generated from libs/common/contracts.

Every registered contract (`@contract("svc.thing.happened", version)`) becomes a message on
the channel of its subject (`sharitories.svc.thing.happened`), one message per version. On
the wire a message is an envelope (libs.common.events.Envelope) whose `data` is the contract's
payload, so each message's schema is the envelope with `type`, `version` and `data` pinned.
`sharitories contracts --asyncapi` writes it; the committed copy is ASYNCAPI_FILE.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from libs.common.events import SUBJECT_PREFIX, Envelope, registered_contracts, subject_for

ASYNCAPI_FILE = Path(__file__).parent / "contracts" / "asyncapi.json"
SCHEMAS = "#/components/schemas/{model}"


def channel_id(event_type: str) -> str:
    # AsyncAPI 3.0 channel and operation ids allow letters, digits, `_` and `-` only.
    return event_type.replace(".", "_")


def message_id(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}"


def _summary(model: type[BaseModel]) -> str:
    doc = (model.__doc__ or "").strip()
    return doc.split("\n\n")[0].replace("\n", " ") if doc else model.__name__


def document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document, as plain data (stable order: by subject, then version)."""
    contracts = sorted(registered_contracts().items())
    models: list[type[BaseModel]] = [Envelope] + [m for _, m in contracts]
    refs, defs = models_json_schema(
        [(m, "serialization") for m in dict.fromkeys(models)], ref_template=SCHEMAS
    )
    ref_of = {model: refs[(model, "serialization")]["$ref"] for model in dict.fromkeys(models)}

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for (event_type, version), model in contracts:
        cid, mid = channel_id(event_type), message_id(event_type, version)
        channel = channels.setdefault(
            cid,
            {
                "address": subject_for(event_type),
                "title": event_type,
                "messages": {},
            },
        )
        channel["messages"][f"v{version}"] = {"$ref": f"#/components/messages/{mid}"}
        messages[mid] = {
            "name": event_type,
            "title": f"{event_type} v{version}",
            "summary": _summary(model),
            "contentType": "application/json",
            "headers": {
                "type": "object",
                "properties": {
                    "Nats-Msg-Id": {
                        "type": "string",
                        "description": "The envelope id: JetStream drops a duplicate.",
                    },
                    "traceparent": {
                        "type": "string",
                        "description": "W3C trace context, when tracing is on.",
                    },
                },
                "required": ["Nats-Msg-Id"],
            },
            "payload": {
                "allOf": [
                    {"$ref": ref_of[Envelope]},
                    {
                        "type": "object",
                        "properties": {
                            "type": {"const": event_type},
                            "version": {"const": version},
                            "data": {"$ref": ref_of[model]},
                        },
                        "required": ["type", "version", "data"],
                    },
                ]
            },
            "x-contract": f"{model.__module__}.{model.__qualname__}",
        }
    for cid, channel in channels.items():
        operations[f"{cid}_publish"] = {
            "action": "send",
            "title": f"Publish {channel['title']}",
            "channel": {"$ref": f"#/channels/{cid}"},
            "messages": [
                {"$ref": f"#/channels/{cid}/messages/{key}"} for key in sorted(channel["messages"])
            ],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Sharitories events",
            "version": "0.1.0",
            "description": (
                "Domain events between the Sharitories services, on NATS JetStream (stream "
                f"SHARITORIES, subjects `{SUBJECT_PREFIX}.>`). Each message is an envelope "
                "whose `data` follows the contract of its `type` and `version`. Generated "
                "from libs/common/contracts by `sharitories contracts --asyncapi`: do not "
                "edit by hand."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "nats": {
                "host": "localhost:4222",
                "protocol": "nats",
                "description": "The platform's NATS server (NATS_URL).",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": defs.get("$defs", {})},
    }


def render() -> str:
    """The document as the JSON text that is committed (stable, ends with a newline)."""
    return json.dumps(document(), indent=1, ensure_ascii=False) + "\n"
