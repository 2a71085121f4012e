"""k-of-n Shamir secret sharing over the prime field GF(2**521 - 1).

An edition's private key (32 bytes) is split into n shares, any k of which rebuild it and
any k-1 of which say nothing about it (every value of the secret is equally likely). A
share is printed as ``s1-<k>-<x>-<y in hex>``: self-describing, so that a keyholder can
paste it without knowing anything else. Randomness comes from ``secrets``.
"""

from __future__ import annotations

import secrets

PRIME = 2**521 - 1  # a Mersenne prime, far above any 32-byte secret
PREFIX = "s1"


class BadShares(ValueError):
    """Shares that are malformed, repeated, too few, or from different splits."""


def split(secret: bytes, *, threshold: int, shares: int) -> list[str]:
    if not 1 <= threshold <= shares <= 255:
        raise ValueError("need 1 <= threshold <= shares <= 255")
    value = int.from_bytes(secret, "big")
    if value >= PRIME:
        raise ValueError("secret too large for the field")
    coefficients = [value] + [secrets.randbelow(PRIME) for _ in range(threshold - 1)]
    out = []
    for x in range(1, shares + 1):
        y = 0
        for c in reversed(coefficients):  # Horner
            y = (y * x + c) % PRIME
        out.append(f"{PREFIX}-{threshold}-{x}-{y:x}")
    return out


def parse(share: str) -> tuple[int, int, int]:
    """(threshold, x, y) of a printed share."""
    try:
        prefix, k, x, y = share.strip().split("-")
        parsed = int(k), int(x), int(y, 16)
    except ValueError as exc:
        raise BadShares("A share reads s1-<k>-<x>-<hex>.") from exc
    if prefix != PREFIX or not 1 <= parsed[1] <= 255 or not 0 <= parsed[2] < PRIME:
        raise BadShares("A share reads s1-<k>-<x>-<hex>.")
    return parsed


def combine(shares: list[str], *, length: int = 32) -> bytes:
    """The secret from at least k shares (extra shares are ignored)."""
    points = {}
    thresholds = set()
    for share in shares:
        k, x, y = parse(share)
        thresholds.add(k)
        if x in points and points[x] != y:
            raise BadShares(f"Two different shares number {x}.")
        points[x] = y
    if len(thresholds) != 1:
        raise BadShares("The shares come from different splits.")
    (k,) = thresholds
    if len(points) < k:
        raise BadShares(f"{k} different shares are needed, {len(points)} given.")
    chosen = sorted(points.items())[:k]
    value = 0
    for i, (xi, yi) in enumerate(chosen):  # Lagrange interpolation at 0
        num, den = 1, 1
        for j, (xj, _) in enumerate(chosen):
            if i != j:
                num = num * -xj % PRIME
                den = den * (xi - xj) % PRIME
        value = (value + yi * num * pow(den, -1, PRIME)) % PRIME
    if value >= 2 ** (8 * length):
        raise BadShares("These shares do not rebuild a key.")
    return value.to_bytes(length, "big")
