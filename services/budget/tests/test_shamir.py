"""Shamir k-of-n shares and sealed ballots: any k shares open, fewer never do."""

from __future__ import annotations

import itertools
import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.budget import sealing, shamir


@settings(max_examples=60, deadline=None)
@given(
    secret=st.binary(min_size=32, max_size=32),
    n=st.integers(1, 7),
    data=st.data(),
)
def test_any_k_shares_rebuild_the_secret(secret, n, data):
    k = data.draw(st.integers(1, n))
    shares = shamir.split(secret, threshold=k, shares=n)
    subset = data.draw(st.permutations(shares))[: data.draw(st.integers(k, n))]
    assert shamir.combine(subset) == secret


def test_fewer_than_k_shares_are_refused():
    shares = shamir.split(secrets.token_bytes(32), threshold=3, shares=5)
    for pair in itertools.combinations(shares, 2):
        with pytest.raises(shamir.BadShares):
            shamir.combine(list(pair))


def test_k_minus_one_shares_leave_every_secret_possible():
    # With k=2, one share (x, y) fits a line through (0, s) for EVERY s: pick any s and the
    # slope (y - s) / x completes it. So one share carries no information on the secret.
    share = shamir.split(b"\x01" * 32, threshold=2, shares=3)[0]
    _, x, y = shamir.parse(share)
    for candidate in (0, 1, 2**255):
        slope = (y - candidate) * pow(x, -1, shamir.PRIME) % shamir.PRIME
        assert (candidate + slope * x) % shamir.PRIME == y


def test_malformed_mixed_or_conflicting_shares_are_refused():
    a = shamir.split(b"\x02" * 32, threshold=2, shares=3)
    b = shamir.split(b"\x03" * 32, threshold=3, shares=3)
    for bad in (["garbage"], ["s1-2-x-zz"], [a[0], b[1]], [a[0], a[0].replace(a[0][-1], "0")]):
        with pytest.raises(shamir.BadShares):
            shamir.combine(bad)


def test_sealed_ballots_open_only_with_enough_shares_and_hide_their_size():
    key = sealing.new_edition_key(threshold=2, keyholders=3)
    small = sealing.seal({"projects": ["a"]}, public_key=key.public_key)
    large = sealing.seal({"projects": [f"p{i}" for i in range(20)]}, public_key=key.public_key)
    assert len(small) == len(large)  # padded: size does not tell how many projects
    again = sealing.seal({"projects": ["a"]}, public_key=key.public_key)
    assert again != small and sealing.tracker(again) != sealing.tracker(small)
    private = sealing.open_key(key.shares[1:], public_key=key.public_key)
    assert sealing.unseal(small, key=private) == {"projects": ["a"]}
    other = sealing.new_edition_key(threshold=1, keyholders=1)
    with pytest.raises(shamir.BadShares):
        sealing.open_key(other.shares, public_key=key.public_key)
