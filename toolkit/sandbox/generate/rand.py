"""Seeded random streams and the identifiers drawn from them.

Every part of the generator draws from its own stream, keyed by the seed and a name (``stream(seed, "traffic",
day)``), so adding a scenario never changes the population's mail and the same seed always writes the same bytes.
Names are hashed with CRC-32, never with ``hash()``, which Python salts per process.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def _key(part: str | int) -> int:
    if isinstance(part, int):
        if part < 0:
            raise ValueError(f"stream key parts must be non-negative, got {part}")
        return part
    return zlib.crc32(part.encode("utf-8"))


def stream(seed: int, *parts: str | int) -> np.random.Generator:
    """An independent generator for (seed, parts...)."""
    return np.random.default_rng(np.random.SeedSequence([_key(seed), *(_key(p) for p in parts)]))


def uuid_strings(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` random version-4 UUIDs as text."""
    if n == 0:
        return []
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    text = raw.tobytes().hex()
    return [
        f"{text[i:i + 8]}-{text[i + 8:i + 12]}-{text[i + 12:i + 16]}-{text[i + 16:i + 20]}-{text[i + 20:i + 32]}"
        for i in range(0, n * 32, 32)
    ]


class Ids:
    """Identifiers for the small collections (rules, grants, alerts, audit records), from a buffer of random
    bytes drawn from one stream (drawing them one call at a time would dominate small runs)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self._buffer = b""
        self._pos = 0

    def take(self, count: int) -> bytes:
        if self._pos + count > len(self._buffer):
            self._buffer = self._buffer[self._pos:] + self.rng.bytes(max(4096, count))
            self._pos = 0
        out = self._buffer[self._pos:self._pos + count]
        self._pos += count
        return out

    def uuid(self) -> str:
        raw = bytearray(self.take(16))
        raw[6] = (raw[6] & 0x0F) | 0x40
        raw[8] = (raw[8] & 0x3F) | 0x80
        h = raw.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def hex(self, digits: int) -> str:
        return self.take((digits + 1) // 2).hex()[:digits]

    def rule_id(self) -> str:
        """A Graph messageRule id: base64 of 8 bytes, like ``AQAAAJ5dZqA=``."""
        return base64.b64encode(bytes([1, 0, 0, 0]) + self.take(4)).decode("ascii")

    def grant_id(self) -> str:
        """An oAuth2PermissionGrant id: 43 base64url characters."""
        return base64.urlsafe_b64encode(self.take(32)).decode("ascii")[:43]

    def alert_id(self) -> str:
        """A Defender alert id like ``da637578995287051192_756343937``."""
        a = int.from_bytes(self.take(8), "big") % (9 * 10**17) + 10**17
        b = int.from_bytes(self.take(4), "big") % (9 * 10**8) + 10**8
        return f"da{a}_{b}"

    def digits(self, count: int) -> str:
        return "".join(str(b % 10) for b in self.take(count))


def pick(rng: np.random.Generator, items: Sequence[T]) -> T:
    return items[int(rng.integers(0, len(items)))]


def sample(rng: np.random.Generator, items: Sequence[T], k: int) -> list[T]:
    k = min(k, len(items))
    return [items[i] for i in rng.choice(len(items), size=k, replace=False).tolist()]

