"""Debate through the portal: post, reply, edit window, reports, moderation, rate limit,
and the events it leaves in the outbox (pseudonymous, no names, no e-mails)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape

import httpx
import pytest
from sqlalchemy import select

from libs.common.messaging import outbox
from services.portal import accounts, throttle
from services.portal.testkit import csrf_of, log_in, make_account

EDITION = {"id": "e1", "name": "Budget 2027", "phase": "proposals"}
PROPOSAL = {"id": "p1", "title": "Un banc place du marché", "status": "submitted", "supports": 3,
            "neighbourhood": "centre", "description": "", "assessment": None}  # fmt: skip
CAMPAIGN = {
    "id": "k1", "title": "Four à pain", "state": "live", "category": "food",
    "neighbourhood": "gare", "holder_id": "someone", "goal_cents": 100_00, "duration_days": 30,
    "description": "", "rewards": [], "commission_rate": "0.05", "commission_base": "raised",
    "pledged_cents": 0, "matched_reserved_cents": 0, "total_cents": None,
}  # fmt: skip
PAGE = "/budget/e1/proposals/p1"
JSON = {"Accept": "application/problem+json"}


@pytest.fixture
async def debate(portal):
    portal.fake.on("GET", "http://budget.test/editions/e1", EDITION)
    portal.fake.on("GET", "http://budget.test/editions/e1/proposals/p1", PROPOSAL)
    portal.fake.on("GET", "http://crowdfunding.test/campaigns/k1", CAMPAIGN)
    portal.fake.on(
        "GET", "http://crowdfunding.test/campaigns/draft", {**CAMPAIGN, "state": "draft"}
    )
    return portal


class Clock:
    def __init__(self, monkeypatch) -> None:
        self.at = throttle.now()
        monkeypatch.setattr(throttle, "now", lambda: self.at)

    def advance(self, **delta) -> None:
        self.at += timedelta(**delta)


def browser(portal) -> httpx.AsyncClient:
    """Another person's browser on the same portal (own cookies)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=portal.app), base_url="http://portal"
    )


async def person(portal, email: str, **kwargs) -> tuple[accounts.Account, httpx.AsyncClient]:
    account = await make_account(portal, email=email, **kwargs)
    client = browser(portal)
    await log_in(client, email)
    return account, client


async def send(client, action: str, page: str = PAGE, headers=None, **fields) -> httpx.Response:
    token = await csrf_of(client, page)
    return await client.post(action, data={"csrf": token, **fields}, headers=headers or {})


def comment_ids(html: str) -> list[str]:
    return re.findall(r'<article class="comment[^"]*" id="c-([^"]+)"', html)


async def thread(portal) -> list[dict]:
    answer = await portal.client.get("/api/debate/proposal/p1/comments")
    assert answer.status_code == 200, answer.text
    return answer.json()["comments"]


async def events(portal) -> list[dict]:
    async with portal.runtime.db.read() as session:
        rows = (await session.execute(select(outbox.c.payload).order_by(outbox.c.seq))).all()
    return [json.loads(payload) for (payload,) in rows]


async def test_a_verified_resident_posts_others_reply_once_and_read_it_in_both_languages(debate):
    _, ana_web = await person(debate, "ana@valmont.example")
    _, ben_web = await person(debate, "ben@valmont.example")
    posted = await send(ana_web, f"{PAGE}/comments", body="Il manque un banc à l'ombre.")
    assert posted.status_code == 303 and posted.headers["location"].startswith(f"{PAGE}#c-")
    [top] = await thread(debate)
    assert top["body"] == "Il manque un banc à l'ombre." and top["author_name"] == "Ana"
    reply = await send(ben_web, f"{PAGE}/comments", body="D'accord !", in_reply_to=top["id"])
    assert reply.status_code == 303
    _, second = await thread(debate)
    assert second["in_reply_to"] == top["id"]
    # A reply to a reply is refused, with the reason, in the reader's language.
    deeper = await send(ana_web, f"{PAGE}/comments", body="Et moi ?", in_reply_to=second["id"])
    assert deeper.status_code == 422
    assert "On ne répond pas à une réponse" in unescape(deeper.text)
    as_script = await send(ana_web, f"{PAGE}/comments", body="Et moi ?",
                           in_reply_to=second["id"], headers=JSON)  # fmt: skip
    assert as_script.status_code == 422
    assert as_script.json()["code"] == "debate.reply_depth"
    assert as_script.json()["errors"][0]["field"] == "in_reply_to"
    page = unescape((await debate.client.get(PAGE, headers={"Accept-Language": "en"})).text)
    assert "Debate (2)" in page and "D'accord !" in page and "Log in to comment" in page
    assert comment_ids(page) == [top["id"], second["id"]]
    # The campaign page carries the same block; a draft campaign is not debated.
    assert (await send(ben_web, "/campaigns/k1/comments", "/", body="Bravo")).status_code == 303
    draft = await send(ben_web, "/campaigns/draft/comments", "/", body="Bravo")
    assert draft.status_code == 404, draft.headers
    campaign = await ben_web.get("/campaigns/k1")
    assert campaign.status_code == 200 and "Bravo" in campaign.text
    assert 'data-testid="comment-form"' in campaign.text
    events_so_far = [e for e in await events(debate) if e["type"] == "debate.comment.posted"]
    assert [(e["data"]["subject_kind"], e["data"]["neighbourhood"]) for e in events_so_far] == [
        ("proposal", "centre"), ("proposal", "centre"), ("campaign", "gare"),
    ]  # fmt: skip


async def test_length_and_personal_data_are_refused_naming_the_field(debate):
    _, web = await person(debate, "ana@valmont.example")
    short = await send(web, f"{PAGE}/comments", body=" x ", headers=JSON)
    assert short.status_code == 422 and short.json()["code"] == "debate.body_length"
    assert short.json()["params"] == {"min": 2, "max": 2000}
    leak = await send(web, f"{PAGE}/comments", body="Écrivez à ana@valmont.example")
    assert leak.status_code == 422 and "e-mail" in unescape(leak.text)
    assert await thread(debate) == []


async def test_an_unverified_account_reads_but_may_not_post(debate):
    _, web = await person(debate, "newcomer@valmont.example", status=accounts.PENDING)
    page = unescape((await web.get(PAGE)).text)
    assert 'data-testid="comment-verify"' in page and 'data-testid="comment-form"' not in page
    refused = await send(web, f"{PAGE}/comments", body="Bonjour à tous")
    assert refused.status_code == 403 and "compte vérifié" in unescape(refused.text)
    assert await thread(debate) == []
    anonymous = await debate.client.post(f"{PAGE}/comments", data={"body": "x"})
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


async def test_the_author_edits_or_withdraws_within_the_window_only(debate, monkeypatch):
    clock = Clock(monkeypatch)
    _, ana_web = await person(debate, "ana@valmont.example")
    _, ben_web = await person(debate, "ben@valmont.example")
    await send(ana_web, f"{PAGE}/comments", body="Premier jet")
    [c] = await thread(debate)
    assert 'action="/comments/' + c["id"] + '/edit"' in (await ana_web.get(PAGE)).text
    assert "/edit" not in (await ben_web.get(PAGE)).text
    not_mine = await send(ben_web, f"/comments/{c['id']}/edit", body="Piraté")
    assert not_mine.status_code == 403
    clock.advance(minutes=14)
    assert (
        await send(ana_web, f"/comments/{c['id']}/edit", body="Version corrigée")
    ).status_code == 303
    [c] = await thread(debate)
    assert c["body"] == "Version corrigée" and c["edited"] is True
    clock.advance(minutes=1)
    late = await send(ana_web, f"/comments/{c['id']}/edit", body="Trop tard", headers=JSON)
    assert late.status_code == 409 and late.json()["params"] == {"minutes": 15}
    assert (await send(ana_web, f"/comments/{c['id']}/withdraw")).status_code == 409
    assert 'action="/comments/' + c["id"] + '/edit"' not in (await ana_web.get(PAGE)).text
    # A second comment is withdrawn in time: a placeholder stays, and it stops counting.
    await send(ana_web, f"{PAGE}/comments", body="Finalement non")
    second = (await thread(debate))[1]
    assert (await send(ana_web, f"/comments/{second['id']}/withdraw")).status_code == 303
    gone = (await thread(debate))[1]
    assert gone["shown"] == "withdrawn" and gone["body"] is None
    assert "Commentaire retiré par son auteur." in unescape((await ben_web.get(PAGE)).text)
    hidden = [e for e in await events(debate) if e["type"] == "debate.comment.hidden"]
    assert [e["data"]["reason_code"] for e in hidden] == ["withdrawn"]


async def test_reported_hidden_restored_with_the_whole_history(debate):
    ana, ana_web = await person(debate, "ana@valmont.example")
    _, ben_web = await person(debate, "ben@valmont.example")
    sam, sam_web = await person(debate, "sam@valmont.example", roles=("staff",))
    await send(ana_web, f"{PAGE}/comments", body="Vous êtes tous des idiots")
    [c] = await thread(debate)
    assert (await send(ana_web, f"/comments/{c['id']}/report", reason="insult")).status_code == 422
    reported = await send(ben_web, f"/comments/{c['id']}/report", reason="insult", detail="Injure")
    assert reported.status_code == 303
    again = await send(ben_web, f"/comments/{c['id']}/report", reason="spam")
    assert again.status_code == 409
    bad = await send(ben_web, f"/comments/{c['id']}/report", reason="boring", headers=JSON)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "reason"
    # Residents do not reach the queue; staff see the comment, its reports and reasons.
    assert (await ben_web.get("/staff/moderation")).status_code == 403
    queue = unescape((await sam_web.get("/staff/moderation")).text)
    assert "Vous êtes tous des idiots" in queue and "1 signalement(s) ouvert(s)" in queue
    assert "Insulte ou propos haineux" in queue
    history_page = f"/staff/moderation/comments/{c['id']}"
    hide = await send(sam_web, f"{history_page}/hide", history_page, reason="insult",
                      note="Restez courtois.")  # fmt: skip
    assert hide.status_code == 303
    assert (
        await send(sam_web, f"{history_page}/hide", history_page, reason="insult")
    ).status_code == 409
    author_sees = unescape((await ana_web.get(PAGE)).text)
    assert "Masqué par la modération : Insulte ou propos haineux. Restez courtois." in author_sees
    others_see = unescape((await ben_web.get(PAGE)).text)
    assert "Commentaire masqué par la modération." in others_see
    assert "idiots" not in others_see and "Restez courtois" not in others_see
    [hidden] = await thread(debate)
    assert hidden["shown"] == "hidden" and hidden["body"] is None
    # No reply to a hidden comment; the queue lists it among the hidden ones, reports closed.
    reply = await send(ben_web, f"{PAGE}/comments", body="Bien fait", in_reply_to=c["id"])
    assert reply.status_code == 409
    queue = unescape((await sam_web.get("/staff/moderation")).text)
    assert 'data-testid="reported-comment"' not in queue and 'data-testid="hidden-comment"' in queue
    assert (
        await send(sam_web, f"{history_page}/restore", history_page, note="Appel accepté")
    ).status_code == 303
    assert (await thread(debate))[0]["shown"] == "text"
    assert (await send(sam_web, f"{history_page}/dismiss", history_page)).status_code == 409
    history = unescape((await sam_web.get(history_page)).text)
    steps = re.findall(r'data-label="Quoi">([^<]+)<', history)
    assert steps == ["Publié", "Signalé", "Masqué", "Rétabli"]
    whos = re.findall(r'data-label="Qui">([^<]+)<', history)
    assert whos == ["Ana", "Ben", "Sam", "Sam"]
    assert "Restez courtois." in history and "Appel accepté" in history and "Injure" in history
    assert (await ben_web.get(history_page)).status_code == 403
    # Every step that changes what counts went out as an event, pseudonymous.
    sent = [e for e in await events(debate) if e["type"].startswith("debate.")]
    assert [e["type"] for e in sent] == [
        "debate.comment.posted", "debate.comment.hidden", "debate.comment.restored",
    ]  # fmt: skip
    posted = sent[0]["data"]
    assert posted == {
        "comment_id": c["id"], "author_id": ana.id, "subject_kind": "proposal",
        "subject_id": "p1", "neighbourhood": "centre", "in_reply_to": None,
    }  # fmt: skip
    assert sent[1]["data"]["reason_code"] == "insult" and sent[1]["actor"] == sam.id
    assert sent[0]["territory"]["neighbourhood"] == "centre"
    for event in sent:
        text = json.dumps(event)
        assert "@" not in text and "Ana" not in text and "Sam" not in text
        assert "idiots" not in text and "courtois" not in text


async def test_staff_keep_a_reported_comment_and_the_reports_close(debate):
    _, ana_web = await person(debate, "ana@valmont.example")
    _, ben_web = await person(debate, "ben@valmont.example")
    _, sam_web = await person(debate, "sam@valmont.example", roles=("staff",))
    await send(ana_web, f"{PAGE}/comments", body="Je ne suis pas d'accord")
    [c] = await thread(debate)
    await send(ben_web, f"/comments/{c['id']}/report", reason="off_topic")
    page = f"/staff/moderation/comments/{c['id']}"
    assert (
        await send(sam_web, f"{page}/dismiss", page, note="Un désaccord est permis")
    ).status_code == 303
    queue = unescape((await sam_web.get("/staff/moderation")).text)
    assert 'data-testid="reported-comment"' not in queue
    assert (await thread(debate))[0]["shown"] == "text"
    assert "Signalements classés" in unescape((await sam_web.get(page)).text)


async def test_posting_is_rate_limited_per_account_with_retry_after(debate, monkeypatch):
    clock = Clock(monkeypatch)
    monkeypatch.setattr(debate.app.state.portal_settings, "comments_per_window", 2)
    monkeypatch.setattr(debate.app.state.portal_settings, "comment_window_minutes", 10)
    _, ana_web = await person(debate, "ana@valmont.example")
    _, ben_web = await person(debate, "ben@valmont.example")
    for n in range(2):
        assert (await send(ana_web, f"{PAGE}/comments", body=f"Idée {n}")).status_code == 303
    clock.advance(minutes=4)
    third = await send(ana_web, f"{PAGE}/comments", body="Idée 3")
    assert third.status_code == 429 and third.headers["retry-after"] == "360"
    assert "attendez 360 s" in unescape(third.text)
    script = await send(ana_web, f"{PAGE}/comments", body="Idée 3", headers=JSON)
    assert script.status_code == 429 and script.headers["retry-after"] == "360"
    assert script.json()["code"] == "debate.too_many"
    # Another account is not held back by Ana's rate; Ana posts again once the window ends.
    assert (await send(ben_web, f"{PAGE}/comments", body="Moi aussi")).status_code == 303
    clock.advance(minutes=6)
    assert (await send(ana_web, f"{PAGE}/comments", body="Idée 3")).status_code == 303
    assert len(await thread(debate)) == 4
