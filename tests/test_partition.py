"""Consumers: disjoint slices of the plan's blocks for shards, ranks and DataLoader workers."""

import pytest

from genolewm.errors import ConfigError
from genolewm.partition import Consumer, current_consumer, distributed_rank


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_consumers_split_blocks_disjointly(count):
    owners = [[i for i in range(count) if Consumer(i, count).owns(block)] for block in range(50)]
    assert all(len(o) == 1 for o in owners)
    sizes = [sum(Consumer(i, count).owns(b) for b in range(50)) for i in range(count)]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


@pytest.mark.parametrize("index, count", [(2, 2), (-1, 2), (0, 0), (0, True)])
def test_consumer_validation(index, count):
    with pytest.raises(ConfigError, match=rf"shard.index={index}, shard.count={count}"):
        Consumer(index, count)


def test_ranks_from_arguments_and_environment(monkeypatch):
    assert distributed_rank() == (0, 1)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert distributed_rank() == (3, 4) and current_consumer() == Consumer(3, 4)
    assert distributed_rank(1, 2) == (1, 2)
    with pytest.raises(ConfigError, match="rank 5 of world size 4"):
        current_consumer(5, 4)
