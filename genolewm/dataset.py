"""``GenoLeWMDataset``: the live tuple stream as a torch ``IterableDataset``.

The window plan is cut into blocks of ``windows_per_block`` windows and each
consumer (distributed rank x DataLoader worker, see :mod:`genolewm.partition`)
builds only its blocks. Every window's draws derive from the run seed and
the window alone, so the multiset of tuples is the same for any number of
workers or ranks, and equals what a build with
``output.windows_per_shard=windows_per_block`` writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping

from torch.utils.data import IterableDataset

from .builder import TrainingTuple, TupleBuilder
from .partition import current_consumer
from .providers import EditProvider
from .windows import WindowContext


@dataclass(frozen=True)
class TrainingDatasetItem:
    """One stream item with the source window needed for trainer encoding."""

    training_tuple: TrainingTuple
    window: WindowContext


class GenoLeWMDataset(IterableDataset):
    """Deterministic iterable dataset over windows and edit-source providers.

    Yields :class:`TrainingTuple` values, or :class:`TrainingDatasetItem`
    (tuple + source window, what :func:`genolewm.tensors.collate` takes) when
    ``with_windows``. ``rank``/``world_size`` override the distributed
    defaults (torch.distributed when initialised, else ``RANK``/``WORLD_SIZE``).
    """

    def __init__(
        self, windows, providers: Mapping[str, EditProvider], *, seed: int, windows_per_block: int = 256,
        with_windows: bool = False, rank: int | None = None, world_size: int | None = None, **settings,
    ) -> None:
        """``settings`` are :class:`TupleBuilder`'s (mix, fallbacks, holdouts, multi_edit, split, ...)."""
        self._init(TupleBuilder(windows=windows, providers=providers, seed=seed, **settings),
                   windows_per_block, with_windows, rank, world_size)

    @classmethod
    def from_builder(cls, builder: TupleBuilder, **options) -> "GenoLeWMDataset":
        """Wrap an already validated builder (e.g. from ``genolewm.build.make_builder``)."""
        dataset = cls.__new__(cls)
        dataset._init(builder, options.pop("windows_per_block", 256), options.pop("with_windows", False),
                      options.pop("rank", None), options.pop("world_size", None))
        if options:
            raise TypeError(f"unknown options {sorted(options)}")
        return dataset

    def _init(self, builder, windows_per_block, with_windows, rank, world_size) -> None:
        IterableDataset.__init__(self)
        self.builder = builder
        self.windows_per_block = windows_per_block
        self.with_windows = with_windows
        self.rank, self.world_size = rank, world_size

    def iter_with_source_windows(self) -> Iterator[TrainingDatasetItem]:
        """This consumer's tuples together with their source windows."""
        consumer = current_consumer(self.rank, self.world_size)
        for block, (start, stop) in enumerate(self.builder.plan_blocks(self.windows_per_block)):
            if consumer.owns(block):
                for window, tuples in self.builder.iter_windows(start=start, stop=stop):
                    for item in tuples:
                        yield TrainingDatasetItem(item, window)

    def __iter__(self) -> Iterator[TrainingTuple | TrainingDatasetItem]:
        items = self.iter_with_source_windows()
        return items if self.with_windows else (item.training_tuple for item in items)
