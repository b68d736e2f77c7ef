"""Counter-based streams: one definition, read one number at a time or a stretch at once."""

import collections
import math
import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from genolewm.providers.synthetic import SyntheticIndel
from genolewm.streams import MASK, Stream, below, block_numbers, number, numbers, u64s


@given(st.integers(0, MASK), st.integers(0, 1 << 40), st.integers(1, 50))
@settings(max_examples=200, deadline=None)
def test_a_stretch_at_once_equals_the_numbers_one_by_one(key, start, n):
    one_by_one = Stream(key)
    one_by_one.setstate((key, start))
    at_once = Stream(key)
    at_once.setstate((key, start))
    assert [one_by_one.getrandbits(64) for _ in range(n)] == at_once.u64s(n).tolist()
    assert numbers(np.uint64(key), np.arange(start, start + n, dtype=np.uint64)).tolist() == \
        [number(key, start + i) for i in range(n)]
    assert one_by_one.getstate() == at_once.getstate() == (key, start + n)


@given(st.lists(st.integers(0, MASK), max_size=20), st.integers(0, 12))
@settings(max_examples=100, deadline=None)
def test_many_streams_at_once_equal_each_stream_read_in_order(keys, n):
    got = block_numbers(keys, n)
    assert got == [[Stream(key).getrandbits(64) if i == 0 else number(key, i) for i in range(n)] for key in keys]
    assert all(type(u) is int for row in got for u in row)  # Python ints: (u * n) >> 64 stays exact


def test_the_definition_is_splitmix64():
    # SplitMix64 seeded with 0: its first outputs, as published with the algorithm.
    assert [number(0, n) for n in range(3)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]


def test_streams_are_random_compatible_and_uniform():
    rng = Stream(2026)
    assert isinstance(rng, random.Random) and 0 <= rng.random() < 1 and rng.choice("ACGT") in "ACGT"
    counts = collections.Counter(below(rng, 7) for _ in range(70_000))
    assert set(counts) == set(range(7)) and all(abs(c - 10_000) < 500 for c in counts.values())
    assert len(u64s(random.Random(1), 5)) == 5  # a plain Random works too, one number at a time


def test_indel_lengths_follow_the_truncated_geometric_distribution():
    indel, rng = SyntheticIndel(p=0.5, max_event_bp=15), Stream(7)
    counts = collections.Counter(indel.event_length(rng.getrandbits(64)) for _ in range(100_000))
    total = 1 - 0.5 ** 15
    for k in range(1, 8):
        expected = 100_000 * 0.5 ** k / total
        assert abs(counts[k] - expected) < 5 * math.sqrt(expected), k
    assert min(counts) == 1 and max(counts) <= 15
    assert SyntheticIndel(p=1.0).event_length(rng.getrandbits(64)) == 1
