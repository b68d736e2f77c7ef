"""``GenoLeWMDataset``: the live tuple stream as a torch ``IterableDataset``.

The window plan is cut into blocks of ``windows_per_block`` windows and each
consumer (distributed rank x DataLoader worker, see `genolewm.partition`)
builds only its blocks. Every window's draws derive from the run seed and
the window alone, so the multiset of tuples is the same for any number of
workers or ranks, and equals what a build with
``output.windows_per_shard=windows_per_block`` writes.

Shuffling (``shuffle=True``, ``seed``, ``set_epoch``): each epoch permutes
the blocks (shards) before they are shared out, with
``Random(shuffle_seed(seed, epoch))``, and each consumer passes its items
through a buffer of ``shuffle_buffer`` items drawn at random with
``Random(shuffle_seed(seed, epoch, index, count))``, where
``shuffle_seed`` is the first 8 bytes of
``sha256("{seed}/shuffle/{epoch}[/{index}/{count}]")``. The order is the same
for the same (seed, epoch) and split; the multiset of items is the same for
any split; another epoch gives another order.
"""

from __future__ import annotations

import hashlib
import math
from random import Random
from typing import Iterable, Iterator, Mapping, TypeVar

import numpy as np
from torch.utils.data import IterableDataset

from .builder import TupleBuilder, TupleSettings
from .errors import ContractError
from .partition import Consumer, current_consumer
from .runs import RunSet
from .tensors import Batch, batch
from .tokens import FlatEdits, Vocabulary, edit_arrays, edit_rows, edited_tokens, encode
from .types import EditProvider, TrainingDatasetItem, TrainingTuple
from .windows import as_window_source


T = TypeVar("T")


def shuffle_seed(seed: int, epoch: int, *consumer: int) -> int:
    key = "/".join(str(part) for part in (seed, "shuffle", epoch, *consumer))
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def shuffled_blocks(count: int, seed: int, epoch: int) -> list[int]:
    """The block order of one epoch: a permutation of ``range(count)``."""
    order = list(range(count))
    Random(shuffle_seed(seed, epoch)).shuffle(order)
    return order


def buffered(items: Iterable[T], rng: Random, size: int) -> Iterator[T]:
    """``items`` in a random order, holding at most ``size`` of them at a time."""
    buffer: list[T] = []
    for item in items:
        buffer.append(item)
        if len(buffer) >= size:
            j = rng.randrange(len(buffer))
            buffer[j], buffer[-1] = buffer[-1], buffer[j]
            yield buffer.pop()
    rng.shuffle(buffer)
    yield from buffer


class Shuffling:
    """The shuffle settings both datasets share, and the epoch they are in."""

    def __init__(self, shuffle: bool, seed: int, shuffle_buffer: int) -> None:
        if shuffle_buffer < 1:
            raise ContractError(f"shuffle_buffer={shuffle_buffer!r}: must be >= 1")
        self.shuffle, self.seed, self.shuffle_buffer, self.epoch = shuffle, seed, shuffle_buffer, 0

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s order (call before each epoch, as with DistributedSampler)."""
        self.epoch = epoch

    def blocks(self, count: int) -> list[int]:
        return shuffled_blocks(count, self.seed, self.epoch) if self.shuffle else list(range(count))

    def order(self, items: Iterable[T], consumer: Consumer) -> Iterable[T]:
        if not self.shuffle:
            return items
        rng = Random(shuffle_seed(self.seed, self.epoch, consumer.index, consumer.count))
        return buffered(items, rng, self.shuffle_buffer)


class GenoLeWMDataset(IterableDataset):
    """Deterministic iterable dataset over windows and edit-source providers.

    ``windows`` is a window source, or as in the seed an iterable of
    `WindowContext` (or a callable returning one). Yields
    `TrainingTuple` values, or `TrainingDatasetItem` (source
    window + tuple, what `genolewm.tensors.collate` takes) when
    ``with_windows``. ``settings`` are `TupleSettings`'
    fields (the seed's ``mix``, ``holdouts``, ``fallback_sources``,
    ``preserve_length``, and ``pad``, ``edge_margin``). ``rank``/``world_size``
    override the distributed defaults (torch.distributed when initialised,
    else ``RANK``/``WORLD_SIZE``). ``shuffle=True`` permutes blocks and items
    per epoch (module docstring; call `set_epoch`).
    """

    def __init__(
        self, windows, providers: Mapping[str, EditProvider], *, seed: int, split: str = "train",
        windows_per_block: int = 256, with_windows: bool = False, rank: int | None = None,
        world_size: int | None = None, shuffle: bool = False, shuffle_buffer: int = 4096, **settings,
    ) -> None:
        builder = TupleBuilder(windows=as_window_source(windows), providers=providers, seed=seed,
                               settings=TupleSettings(**settings), split=split)
        self._init(builder, windows_per_block, with_windows, rank, world_size, Shuffling(shuffle, seed, shuffle_buffer))

    @classmethod
    def from_builder(cls, builder: TupleBuilder, *, windows_per_block: int = 256, with_windows: bool = False,
                     rank: int | None = None, world_size: int | None = None, shuffle: bool = False,
                     shuffle_buffer: int = 4096) -> "GenoLeWMDataset":
        """Wrap an already validated builder (e.g. from ``genolewm.config.make_builder``)."""
        dataset = cls.__new__(cls)
        dataset._init(builder, windows_per_block, with_windows, rank, world_size,
                      Shuffling(shuffle, builder.seed, shuffle_buffer))
        return dataset

    def _init(self, builder, windows_per_block, with_windows, rank, world_size, shuffling) -> None:
        IterableDataset.__init__(self)
        self.builder = builder
        self.windows_per_block = windows_per_block
        self.with_windows = with_windows
        self.rank, self.world_size = rank, world_size
        self.shuffling = shuffling

    def set_epoch(self, epoch: int) -> None:
        self.shuffling.set_epoch(epoch)

    @property
    def vocabulary(self) -> Vocabulary:
        """Source and contig ids for ``collate(..., vocabulary=dataset.vocabulary)``."""
        return self.builder.vocabulary()

    def iter_with_source_windows(self) -> Iterator[TrainingDatasetItem]:
        """This consumer's tuples together with their source windows."""
        consumer = current_consumer(self.rank, self.world_size)
        blocks = self.builder.plan_blocks(self.windows_per_block)
        mine = [b for k, b in enumerate(self.shuffling.blocks(len(blocks))) if consumer.owns(k)]

        def items() -> Iterator[TrainingDatasetItem]:
            for block in mine:
                start, stop = blocks[block]
                for window, tuples in self.builder.iter_windows(start=start, stop=stop):
                    for item in tuples:
                        yield TrainingDatasetItem(source_window=window, training_tuple=item)

        return iter(self.shuffling.order(items(), consumer))

    def __iter__(self) -> Iterator[TrainingTuple | TrainingDatasetItem]:
        items = self.iter_with_source_windows()
        return items if self.with_windows else (item.training_tuple for item in items)


class RunDataset(IterableDataset):
    """A finished build (one run dir, or the run dirs of a sharded sweep) as batches of tensors.

    Each consumer (rank x DataLoader worker) reads its shards, the same
    blocks the live `GenoLeWMDataset` gives it when its
    ``windows_per_block`` equals the build's ``output.windows_per_shard``, and
    yields `genolewm.tensors.collate`-shaped batches of ``batch_size``
    tuples with source and contig labels (see `vocabulary`; the last
    batch may be shorter; use ``DataLoader(dataset, batch_size=None)``), or
    with ``tensors=False`` the `TrainingDatasetItem` values the live
    dataset yields with ``with_windows=True``. ``shuffle=True`` permutes
    shards and tuples per epoch (module docstring; call `set_epoch`).
    ``len()`` is this consumer's number of batches (items with
    ``tensors=False``), from the manifests.
    """

    def __init__(
        self, run_dirs, *, batch_size: int = 256, max_edits: int | None = None, tensors: bool = True,
        complete: bool = True, rank: int | None = None, world_size: int | None = None, shuffle: bool = False,
        seed: int = 0, shuffle_buffer: int = 4096,
    ) -> None:
        super().__init__()
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ContractError(f"batch_size={batch_size!r}: must be an integer >= 1")
        self.runs = RunSet(run_dirs, complete=complete)
        self.batch_size, self.max_edits, self.tensors = batch_size, max_edits, tensors
        self.rank, self.world_size = rank, world_size
        self.shuffling = Shuffling(shuffle, seed, shuffle_buffer)
        self.vocabulary = Vocabulary(**next(iter(self.runs.manifests.values()))["vocabulary"])

    def set_epoch(self, epoch: int) -> None:
        self.shuffling.set_epoch(epoch)

    def _shards(self, consumer: Consumer | None) -> list:
        shards = self.runs.shards
        order = self.shuffling.blocks(len(shards))
        return [shards[i] for k, i in enumerate(order) if consumer is None or consumer.owns(k)]

    def tuples(self, consumer: Consumer | None = None) -> int:
        """How many tuples ``consumer`` reads (all of them when None), from the manifests."""
        return sum(self.runs.shard_tuples(shard) for shard in self._shards(consumer))

    def __len__(self) -> int:
        n = self.tuples(current_consumer(self.rank, self.world_size))
        return math.ceil(n / self.batch_size) if self.tensors else n

    def _shard_arrays(self, shard) -> dict:
        """A shard as arrays (its reader's) with label ids, targets recomputed when not stored."""
        # Length-preserved targets are rebuilt per batch from the window tokens (tokens.edited_tokens),
        # faster than decoding stored ones; stored ones that are views of mapped files are used as they are.
        reader = self.runs.reader
        arrays = dict(reader.shard_arrays(shard, with_targets=reader.targets_are_views or not self.runs.preserve_length))
        if arrays["target"] is None and not self.runs.preserve_length:
            arrays["target"] = encode([t.target_window for _, t in self.runs.shard_pairs(shard)])
        elif arrays["target"] is None:
            flanks = arrays.pop("window_flanks")
            empty = np.zeros(0, np.uint8)
            arrays["flank_tokens"] = ([(encode([a])[0], encode([b])[0]) for a, b in flanks] if self.runs.pad == "flank"
                                      else [(empty, empty)] * len(flanks))
        vocabulary = self.vocabulary
        codes, names = arrays.pop("requested_source")
        arrays["requested_id"] = vocabulary.source_ids(names)[np.asarray(codes)]
        arrays["chrom_id"] = vocabulary.chrom_ids(arrays.pop("window_chrom"))[np.asarray(arrays["window_rows"])]
        edits = arrays["edits"]
        codes, names = arrays.pop("edit_source")
        arrays["edits"] = FlatEdits(edits.rel_pos, edits.type_code, edits.ref, edits.ref_len, edits.alt,
                                    edits.alt_len, vocabulary.source_ids(names)[np.asarray(codes)])
        return arrays

    def _batch(self, parts: list[tuple[dict, np.ndarray | slice]]) -> Batch:
        """One batch from the tuple rows ``rows`` (indices, or a slice for consecutive rows) of per-shard
        arrays, in the order given. A batch of one slice is views of the shard's arrays where it can be."""
        def take(key):
            return _gather([(arrays[key], rows) for arrays, rows in parts])

        flat = [edit_rows(arrays["edit_offsets"], np.arange(rows.start, rows.stop) if isinstance(rows, slice) else rows)
                for arrays, rows in parts]
        edits = FlatEdits.concat([arrays["edits"].take(index) for (arrays, _), (index, _) in zip(parts, flat)])
        counts = np.concatenate([counts for _, counts in flat])
        windows = _gather([(arrays["window_tokens"], np.asarray(arrays["window_rows"])[rows]) for arrays, rows in parts])
        if parts[0][0]["target"] is not None:
            target = take("target")
        else:
            flanks = [arrays["flank_tokens"][w] for arrays, rows in parts for w in np.asarray(arrays["window_rows"])[rows]]
            target = edited_tokens(windows, counts, edits, take("side"), flanks.__getitem__)
        return batch({
            "window": windows, "target": target,
            **edit_arrays(counts, edits, self.max_edits),
            "window_index": take("window_index").astype(np.int64), "tuple_index": take("tuple_index").astype(np.int64),
            "requested_source": take("requested_id"), "chrom": take("chrom_id"),
        })

    def _rows(self, consumer: Consumer) -> Iterator[tuple[dict, int]]:
        for shard in self._shards(consumer):
            arrays = self._shard_arrays(shard)
            for row in range(len(arrays["tuple_index"])):
                yield arrays, row

    def __iter__(self) -> Iterator[Batch | TrainingDatasetItem]:
        consumer = current_consumer(self.rank, self.world_size)
        if not self.tensors:
            pairs = (pair for shard in self._shards(consumer) for pair in self.runs.shard_pairs(shard))
            for window, item in self.shuffling.order(pairs, consumer):
                yield TrainingDatasetItem(source_window=window, training_tuple=item)
            return
        if not self.shuffling.shuffle:
            yield from self._in_order(consumer)
            return
        chosen: list[tuple[dict, int]] = []
        for arrays, row in self.shuffling.order(self._rows(consumer), consumer):
            chosen.append((arrays, row))
            if len(chosen) == self.batch_size:
                yield self._batch(_grouped(chosen))
                chosen = []
        if chosen:
            yield self._batch(_grouped(chosen))

    def _in_order(self, consumer: Consumer) -> Iterator[Batch]:
        """Batches cut from consecutive rows: slices of each shard's arrays."""
        parts, size = [], 0
        for shard in self._shards(consumer):
            arrays = self._shard_arrays(shard)
            start, n = 0, len(arrays["tuple_index"])
            while start < n:
                take = min(self.batch_size - size, n - start)
                parts.append((arrays, slice(start, start + take)))
                size += take
                start += take
                if size == self.batch_size:
                    yield self._batch(parts)
                    parts, size = [], 0
        if size:
            yield self._batch(parts)


def _gather(parts: list[tuple[np.ndarray, np.ndarray | slice]]) -> np.ndarray:
    """The rows ``index`` (positions, or a slice) of each array, in order, as one array: one part's slice
    stays a view of its array; otherwise each row is copied once, straight into the batch."""
    if len(parts) == 1:
        array, index = parts[0]
        return np.asarray(array)[index]
    arrays = [np.asarray(array) for array, _ in parts]
    sizes = [len(range(*index.indices(len(array)))) if isinstance(index, slice) else len(index)
             for array, (_, index) in zip(arrays, parts)]
    out = np.empty((sum(sizes), *arrays[0].shape[1:]), arrays[0].dtype)
    at = 0
    for array, (_, index), size in zip(arrays, parts, sizes):
        if isinstance(index, slice):
            out[at : at + size] = array[index]
        else:
            np.take(array, index, axis=0, out=out[at : at + size])
        at += size
    return out


def _grouped(chosen: list[tuple[dict, int]]) -> list[tuple[dict, np.ndarray]]:
    """Consecutive rows of one shard as one part, keeping the order chosen."""
    parts: list[tuple[dict, list[int]]] = []
    for arrays, row in chosen:
        if parts and parts[-1][0] is arrays:
            parts[-1][1].append(row)
        else:
            parts.append((arrays, [row]))
    return [(arrays, np.asarray(rows)) for arrays, rows in parts]
