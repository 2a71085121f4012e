"""A small driver for one edition, shared by the budget tests to keep them readable."""

from __future__ import annotations


class Desk:
    def __init__(self, service) -> None:
        self.service = service
        self.client = service.client
        self.staff = service.auth("mayor-office", "staff")
        self.reviewer = service.auth("rev", "reviewer")
        self.shares: dict[str, list[str]] = {}  # edition id → keyholder shares

    async def edition(self, **overrides) -> dict:
        body = {
            "name": "Valmont 2025",
            "envelopes": [
                {"name": "City", "amount_cents": 100_000_00},
                {"name": "Gare", "district": "gare", "amount_cents": 20_000_00},
            ],
            "rule": "greedy",
            "ballot_format": {"kind": "approval", "min_projects": 1, "max_projects": 3},
            "eligible_population": {"centre": 1000, "gare": 500},
            **overrides,
        }
        r = await self.client.post("/editions", json=body, headers=self.staff)
        assert r.status_code == 201, r.text
        self.ed = r.json()
        self.shares[self.ed["id"]] = [k["share"] for k in self.ed["keyholder_shares"]]
        self.city = self.ed["envelopes"][0]["id"]
        self.port = self.ed["envelopes"][-1]["id"]
        return self.ed

    async def phase(self, phase: str, expect: int = 200):
        r = await self.client.post(
            f"/editions/{self.ed['id']}/phase", json={"phase": phase}, headers=self.staff
        )
        assert r.status_code == expect, r.text
        return r

    async def propose(self, title: str, who: str = "alice", envelope=None, nbhd="centre"):
        r = await self.client.post(
            f"/editions/{self.ed['id']}/proposals",
            json={"title": title, "description": "d", "envelope_id": envelope},
            headers=self.service.auth(who, neighbourhood=nbhd),
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    async def assess(self, pid: str, cost: int | None, feasible: bool = True):
        r = await self.client.post(
            f"/editions/{self.ed['id']}/proposals/{pid}/assessment",
            json={
                "feasible": feasible,
                "reason": "checked by the roads department",
                "cost_cents": cost,
            },
            headers=self.reviewer,
        )
        assert r.status_code == 200, r.text

    async def to_voting(self, costs: dict[str, int], envelope=None) -> list[str]:
        """From a fresh edition to voting with one proposal per cost (all feasible)."""
        await self.phase("proposals")
        ids = [await self.propose(t, envelope=envelope) for t in costs]
        await self.phase("pre_selection")
        await self.phase("assessment")
        for pid, cost in zip(ids, costs.values(), strict=True):
            await self.assess(pid, cost)
        await self.phase("voting")
        return ids

    async def vote(self, who: str, projects, envelope=None, nbhd="centre", **claims):
        return await self.cast(who, projects=projects, envelope=envelope, nbhd=nbhd, **claims)

    async def cast(
        self, who, *, projects=None, points=None, envelope=None, nbhd="centre", **claims
    ):
        body = {"envelope_id": envelope or self.city}
        if projects is not None:
            body["projects"] = projects
        if points is not None:
            body["points"] = points
        return await self.client.post(
            f"/editions/{self.ed['id']}/ballots",
            json=body,
            headers=self.service.auth(who, neighbourhood=nbhd, **claims),
        )

    async def register(self, name: str, nbhd: str = "centre", **extra) -> str:
        """Register a resident at the desk (identity seen by staff): their desk voter id."""
        r = await self.client.post(
            f"/editions/{self.ed['id']}/desk/voters",
            json={"identity": name, "neighbourhood": nbhd, **extra},
            headers=self.staff,
        )
        assert r.status_code == 201, r.text
        return r.json()["voter_id"]

    async def paper(self, voter_id: str, projects, envelope=None):
        return await self.client.post(
            f"/editions/{self.ed['id']}/desk/ballots",
            json={
                "envelope_id": envelope or self.city,
                "projects": projects,
                "voter_id": voter_id,
            },
            headers=self.staff,
        )

    async def publish(self, edition_id: str | None = None, expect: int = 201) -> dict:
        """Close voting (if open), enter the keyholders' shares and publish the results."""
        eid = edition_id or self.ed["id"]
        edition = (await self.client.get(f"/editions/{eid}")).json()
        if edition["phase"] == "voting":
            r = await self.client.post(
                f"/editions/{eid}/phase", json={"phase": "results"}, headers=self.staff
            )
            assert r.status_code == 200, r.text
        body = {"shares": self.shares[eid]} if eid in self.shares else {}
        r = await self.client.post(f"/editions/{eid}/results", json=body, headers=self.staff)
        assert r.status_code == expect, r.text
        return r.json()
