"""``GenoLeWMDataset``: the live tuple stream as a torch ``IterableDataset``.

Each DataLoader worker takes the windows whose index ``i`` satisfies
``i % num_workers == worker_id``; since every window's draws derive from the
run seed and the window alone, the multiset of tuples does not depend on
the number of workers.
"""

from __future__ import annotations

from typing import Iterator, Mapping

from torch.utils.data import IterableDataset, get_worker_info

from .builder import TrainingTuple, TupleBuilder
from .providers import EditProvider
from .windows import WindowContext


class GenoLeWMDataset(IterableDataset):
    """Deterministic iterable dataset over windows and edit-source providers."""

    def __init__(self, windows, providers: Mapping[str, EditProvider], *, seed: int, **settings) -> None:
        """``settings`` are :class:`TupleBuilder`'s (mix, fallbacks, holdouts, multi_edit, split, ...)."""
        super().__init__()
        self.builder = TupleBuilder(windows=windows, providers=providers, seed=seed, **settings)

    @classmethod
    def from_builder(cls, builder: TupleBuilder) -> "GenoLeWMDataset":
        """Wrap an already validated builder (e.g. from ``genolewm.build.make_builder``)."""
        dataset = cls.__new__(cls)
        IterableDataset.__init__(dataset)
        dataset.builder = builder
        return dataset

    def iter_with_source_windows(self) -> Iterator[tuple[TrainingTuple, WindowContext]]:
        """Yield tuples together with their source windows for trainer encoding."""
        info = get_worker_info()
        select = None if info is None else (lambda i: i % info.num_workers == info.id)
        for window, tuples in self.builder.iter_windows(select):
            for item in tuples:
                yield item, window

    def __iter__(self) -> Iterator[TrainingTuple]:
        for item, _ in self.iter_with_source_windows():
            yield item
