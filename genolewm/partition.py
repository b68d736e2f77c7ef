"""Who reads what: disjoint slices of the window plan for shards, ranks and DataLoader workers.

The plan is cut into blocks of consecutive windows (``windows_per_shard`` of
them: block ``k`` is shard file ``part-k`` of a build). Consumer ``i`` of
``n`` takes the blocks ``k`` with ``k % n == i``, so no two consumers share
a window and together they have them all; when the blocks do not divide
evenly the first consumers get one more. A DataLoader consumer is
``rank * num_workers + worker_id`` of ``world_size * num_workers``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import ConfigError


@dataclass(frozen=True)
class Consumer:
    """Consumer ``index`` of ``count``."""

    index: int = 0
    """Which of the `count` shares this is (0-based)."""
    count: int = 1
    """How many shares the plan's blocks are dealt into (block `k` goes to `k % count`)."""

    def __post_init__(self) -> None:
        ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (self.index, self.count))
        if not (ints and self.count >= 1 and 0 <= self.index < self.count):
            raise ConfigError(
                f"shard.index={self.index}, shard.count={self.count}: need count >= 1 and 0 <= index < count"
            )

    def owns(self, block: int) -> bool:
        return block % self.count == self.index


def distributed_rank(rank: int | None = None, world_size: int | None = None) -> tuple[int, int]:
    """``(rank, world_size)``: from torch.distributed when initialised, else the arguments, else
    the ``RANK``/``WORLD_SIZE`` environment variables, else ``(0, 1)``."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    if rank is not None or world_size is not None:
        return rank or 0, world_size or 1
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def current_consumer(rank: int | None = None, world_size: int | None = None) -> Consumer:
    """This process's consumer: its distributed rank times its DataLoader worker."""
    from torch.utils.data import get_worker_info

    rank, world = distributed_rank(rank, world_size)
    info = get_worker_info()
    workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
    try:
        return Consumer(rank * workers + worker, world * workers)
    except ConfigError as exc:
        raise ConfigError(f"rank {rank} of world size {world}: {exc}") from exc
