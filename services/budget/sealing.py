"""Sealing ballots with an edition's key pair (libsodium sealed boxes, via PyNaCl).

`new_edition_key` makes a key pair, splits the private key among the keyholders (k of n
Shamir shares, `shamir.py`) and forgets it: only the public key is kept. A ballot is
serialised, padded to a multiple of PAD bytes (so that its size does not tell how many
projects it names), and sealed: X25519 with a fresh ephemeral key + XSalsa20-Poly1305.
Nobody, not even the server that sealed it, can open it without the private key.
The tracker (the voter's receipt) is the SHA-256 of the sealed bytes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from services.budget import shamir

PAD = 512


@dataclass(frozen=True)
class EditionKey:
    public_key: str  # hex
    shares: list[str]  # one per keyholder, returned once


def new_edition_key(*, threshold: int, keyholders: int) -> EditionKey:
    private = PrivateKey.generate()
    shares = shamir.split(bytes(private), threshold=threshold, shares=keyholders)
    return EditionKey(public_key=bytes(private.public_key).hex(), shares=shares)


def open_key(shares: list[str], *, public_key: str) -> PrivateKey:
    """The private key rebuilt from k shares; BadShares unless it matches the public key."""
    private = PrivateKey(shamir.combine(shares))
    if bytes(private.public_key).hex() != public_key:
        raise shamir.BadShares("These shares do not open this edition's ballots.")
    return private


def seal(contents: dict, *, public_key: str) -> bytes:
    text = json.dumps(contents, separators=(",", ":"), sort_keys=True).encode()
    padded = text + b" " * (-len(text) % PAD)
    return SealedBox(PublicKey(bytes.fromhex(public_key))).encrypt(padded)


def unseal(sealed: bytes, *, key: PrivateKey) -> dict:
    try:
        return json.loads(SealedBox(key).decrypt(sealed))
    except (CryptoError, ValueError) as exc:
        raise shamir.BadShares("A ballot does not open with this key.") from exc


def tracker(sealed: bytes) -> str:
    return hashlib.sha256(sealed).hexdigest()
