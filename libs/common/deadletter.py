"""Operator tools for the dead-letter stream: list what failed, replay it once fixed.

A replay republishes the original event on its original subject with a fresh
`Nats-Msg-Id`; every consumer's inbox still drops it if it had already applied it, so a
replay only ever fills the gaps.
"""

from __future__ import annotations

from dataclasses import dataclass

import nats
from nats.js.api import ConsumerConfig, DeliverPolicy

from libs.common.events import DEAD_LETTER_STREAM
from libs.common.ids import new_id


@dataclass(frozen=True)
class DeadLetter:
    sequence: int
    consumer: str
    subject: str
    error: str
    payload: bytes


async def list_dead_letters(nats_url: str, *, consumer: str | None = None) -> list[DeadLetter]:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(DEAD_LETTER_STREAM)
        letters: list[DeadLetter] = []
        if not info.state.messages:
            return letters
        subject = f"deadletter.{consumer}.>" if consumer else "deadletter.>"
        sub = await js.subscribe(
            subject,
            stream=DEAD_LETTER_STREAM,
            ordered_consumer=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
        )
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=1.0)
                except TimeoutError:
                    break
                headers = msg.headers or {}
                letters.append(
                    DeadLetter(
                        sequence=msg.metadata.sequence.stream,
                        consumer=headers.get("Sharitories-Consumer", ""),
                        subject=headers.get("Sharitories-Original-Subject", ""),
                        error=headers.get("Sharitories-Error", ""),
                        payload=msg.data,
                    )
                )
                if msg.metadata.num_pending == 0:
                    break
        finally:
            await sub.unsubscribe()
        return letters
    finally:
        await nc.close()


async def replay_dead_letters(nats_url: str, *, consumer: str | None = None) -> int:
    """Republish every dead letter (of `consumer`) and remove it; returns how many."""
    letters = await list_dead_letters(nats_url, consumer=consumer)
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for letter in letters:
            await js.publish(
                letter.subject, letter.payload, headers={"Nats-Msg-Id": f"replay-{new_id()}"}
            )
            await js.delete_msg(DEAD_LETTER_STREAM, letter.sequence)
        return len(letters)
    finally:
        await nc.close()
