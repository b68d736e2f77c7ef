"""Counter-based random streams: the n-th number of a stream is a pure function of its key and n.

A build's draws come from one stream per (window, mix slot, source): its
key is the builder's stream seed (`genolewm.builder.stream_seed`), and
its n-th 64-bit number (n = 0, 1, 2, ...) is

    mix(key + (n + 1) * 0x9E3779B97F4A7C15 mod 2**64)

where ``mix`` is SplitMix64's output function (Steele, Lea and Flood,
"Fast splittable pseudorandom number generators", OOPSLA 2014; the
generator behind Java's SplittableRandom):

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB
    z = z ^ (z >> 31)

(products mod 2**64). Nothing is seeded: making a stream costs nothing,
and any stretch of it can be computed at once, for one window or for a
block of windows (`Stream.u64s`, `numbers`). A uniform integer
in ``[0, n)`` is ``(u * n) >> 64`` of one number ``u`` (a bias below
``n / 2**64``); a uniform float in [0, 1) is ``(u >> 11) / 2**53``.

`Stream` is a `random.Random`, so providers written against
``random.Random`` (``randrange``, ``random``, ``choice``, ``shuffle``) draw
from it unchanged.
"""

from __future__ import annotations

import random

import numpy as np

MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
M1, M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_GAMMA, _M1, _M2 = np.uint64(GAMMA), np.uint64(M1), np.uint64(M2)


def number(key: int, n: int) -> int:
    """The ``n``-th number of the stream ``key``."""
    z = (key + (n + 1) * GAMMA) & MASK
    z = ((z ^ (z >> 30)) * M1) & MASK
    z = ((z ^ (z >> 27)) * M2) & MASK
    return z ^ (z >> 31)


def numbers(keys: np.ndarray, counters: np.ndarray) -> np.ndarray:
    """``number(key, n)`` for arrays of keys and counters (broadcast), as uint64."""
    with np.errstate(over="ignore"):
        z = np.asarray(keys, np.uint64) + (np.asarray(counters, np.uint64) + np.uint64(1)) * _GAMMA
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def block_numbers(keys, n: int) -> list[list[int]]:
    """Numbers 0 to ``n - 1`` of each stream in ``keys``, as Python ints, computed at once."""
    return numbers(np.array(keys, np.uint64)[:, None], np.arange(n, dtype=np.uint64)[None, :]).tolist()


def below(rng: random.Random, n: int) -> int:
    """A uniform integer in ``[0, n)`` from one 64-bit number of ``rng``."""
    return (rng.getrandbits(64) * n) >> 64


def u64s(rng: random.Random, n: int) -> np.ndarray:
    """The next ``n`` 64-bit numbers of ``rng``: at once from a `Stream`, one by one otherwise."""
    if isinstance(rng, Stream):
        return rng.u64s(n)
    return np.array([rng.getrandbits(64) for _ in range(n)], np.uint64)


class Stream(random.Random):
    """The stream ``key``, read in order from its number 0."""

    def __init__(self, key: int) -> None:
        self.key, self.n = key & MASK, 0

    def seed(self, *args, **kwargs) -> None:  # a stream is its key: nothing to seed
        pass

    def getstate(self) -> tuple[int, int]:
        return self.key, self.n

    def setstate(self, state: tuple[int, int]) -> None:
        self.key, self.n = state

    def getrandbits(self, k: int) -> int:
        """``k`` bits: the top ``k`` of the next number (of the next numbers, for ``k`` over 64)."""
        if k == 64:
            self.n += 1
            return number(self.key, self.n - 1)
        out, bits = 0, 0
        while bits < k:
            take = min(64, k - bits)
            out = (out << take) | (number(self.key, self.n) >> (64 - take))
            self.n += 1
            bits += take
        return out

    def random(self) -> float:
        value = number(self.key, self.n)
        self.n += 1
        return (value >> 11) * (1.0 / (1 << 53))

    def u64s(self, n: int) -> np.ndarray:
        """The next ``n`` numbers, at once."""
        out = numbers(np.uint64(self.key), np.arange(self.n, self.n + n, dtype=np.uint64))
        self.n += n
        return out
