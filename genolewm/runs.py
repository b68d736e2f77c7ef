"""Reading finished builds: one run dir, or the run dirs of a sharded sweep as one dataset.

A run's shard ``k`` is block ``k`` of the window plan, so the shards of
several runs built with the same config and ``shard.index``
0..``shard.count``-1 fit together without overlap. Shards are read through
the `RunReader` the manifest's format names.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator

from .edits import apply_edits
from .errors import InputError
from .partition import Consumer
from .store import read_manifest, reader_of
from .types import RelEdit, ShardRef, TrainingTuple, VariantNote, WindowContext


def first_difference(found, expected, where: str = "") -> str | None:
    """The dotted key of the first difference between two manifests' identities, or None."""
    if isinstance(found, dict) and isinstance(expected, dict):
        for key in list(expected) + [k for k in found if k not in expected]:
            inner = first_difference(found.get(key), expected.get(key), f"{where}.{key}" if where else key)
            if inner is not None:
                return inner
        return None
    return None if found == expected else where


def check_same_build(manifests: dict) -> None:
    """Runs read as one dataset must have one data identity and one format; name the first key that differs."""
    (first_dir, first), *rest = manifests.items()
    for d, manifest in rest:
        for key in ("data_identity", "format"):
            found, expected = manifest.get(key), first.get(key)
            if key == "format":  # how the shards are cut and what they hold; compression etc. may differ
                found, expected = (found or {}).get("identity"), (expected or {}).get("identity")
            where = first_difference(found, expected, key)
            if where is not None:
                raise InputError(f"{d}: manifest {where} differs from {first_dir}; these runs are not parts of one "
                                 "build")


class RunSet:
    """Finished runs read as one dataset, their shards in plan order.

    Runs must have the same data identity (``data_sha256``: everything that
    changes a tuple, the inputs' contents included) and format, and must not
    hold the same block. With ``complete=True`` (default) the shard indices of a
    sharded sweep must all be there.
    """

    def __init__(self, run_dirs: Iterable[str | os.PathLike] | str | os.PathLike, complete: bool = True) -> None:
        dirs = [Path(run_dirs)] if isinstance(run_dirs, (str, os.PathLike)) else [Path(d) for d in run_dirs]
        if not dirs:
            raise InputError("no run directories given")
        self.manifests = {d: read_manifest(d) for d in dirs}
        first_dir, first = dirs[0], self.manifests[dirs[0]]
        check_same_build(self.manifests)
        self.reader = reader_of(first, first_dir)
        owner: dict[int, Path] = {}
        for d in dirs:
            for block in self.reader.blocks(d):
                if str(block) not in self.manifests[d]["shard_tuples"]:
                    raise InputError(f"{d}: shard {block} is not in its manifest's shard_tuples; the run is damaged: "
                                     "rebuild it")
                if block in owner:
                    raise InputError(f"{d}: block {block} is also in {owner[block]}; runs overlap")
                owner[block] = d
        if complete:
            counts = {m["shard"]["count"] for m in self.manifests.values()}
            indices = {m["shard"]["index"] for m in self.manifests.values()}
            if len(counts) != 1 or indices != set(range(next(iter(counts)))):
                raise InputError(
                    f"shard indices {sorted(indices)} of shard.count {sorted(counts)} "
                    "do not make a whole build; pass complete=False to read part of one"
                )
        self.shards = [ShardRef(owner[k], k) for k in sorted(owner)]
        self.preserve_length, self.pad = first["preserve_length"], first["pad"]

    def shard_tuples(self, shard: ShardRef) -> int:
        """The tuples of ``shard``, from its run's manifest."""
        return self.manifests[shard.run_dir]["shard_tuples"][str(shard.block)]

    def consumer_shards(self, consumer: Consumer | None = None) -> list[ShardRef]:
        """The shards of ``consumer`` (all when None): blocks ``k`` with ``k % count == index``."""
        return [s for s in self.shards if consumer is None or consumer.owns(s.block)]

    def pairs(self, consumer: Consumer | None = None) -> Iterator[tuple[WindowContext, TrainingTuple]]:
        """``(window, tuple)`` for every tuple, targets read back or recomputed."""
        for shard in self.consumer_shards(consumer):
            yield from self.shard_pairs(shard)

    def shard_pairs(self, shard: ShardRef) -> Iterator[tuple[WindowContext, TrainingTuple]]:
        windows = {w.window_index: w for w in self._windows(shard)}
        for row in self.reader.tuple_rows(shard):
            window = windows.get(row["window_index"])
            if window is None:
                raise InputError(f"{shard.run_dir} shard {shard.block}: window {row['window_index']} has no window row")
            yield window, self._tuple(window, row)

    def _tuple(self, window: WindowContext, row: dict) -> TrainingTuple:
        edits = tuple(RelEdit(e["rel_pos"], e["ref"], e["alt"]) for e in row["edits"])
        target = row.get("target_window")
        if target is None:
            left, right = (window.left_flank, window.right_flank) if self.pad == "flank" else ("", "")
            target = apply_edits(window.sequence, edits, left_flank=left, right_flank=right,
                                 preserve_length=self.preserve_length, where=window.label)
        return TrainingTuple(
            window_id=row["window_id"], source_record_id=window.record_id, edit_source=row["edit_source"],
            rel_edits=edits, target_window=target, window_start_bp=window.start_bp, window_end_bp=window.end_bp,
            window_index=row["window_index"], tuple_index=row["tuple_index"],
            requested_source=row["requested_source"], chrom=window.chrom,
            edit_sources=tuple(e["source"] for e in row["edits"]), adjusted_side=row["adjusted_side"],
            edit_notes=_notes(row["edits"]), sample=row["sample"], haplotype=row["haplotype"],
        )

    def tuples(self, consumer: Consumer | None = None) -> Iterator[TrainingTuple]:
        for _, item in self.pairs(consumer):
            yield item

    def windows(self, consumer: Consumer | None = None) -> Iterator[WindowContext]:
        for shard in self.consumer_shards(consumer):
            yield from self._windows(shard)

    def _windows(self, shard: ShardRef) -> Iterator[WindowContext]:
        for row in self.reader.window_rows(shard):
            yield WindowContext(
                record_id=row["record_id"], source=row["source"], sequence=row["sequence"],
                start_bp=row["start_bp"], chrom=row["chrom"], window_index=row["window_index"],
                left_flank=row["left_flank"], right_flank=row["right_flank"], window_id=row["window_id"],
            )


def _notes(edits: list[dict]) -> tuple[VariantNote | None, ...]:
    notes = tuple(VariantNote(e["id"], e["af"], None if e["clnsig"] is None else tuple(e["clnsig"]))
                  if e["id"] is not None or e["af"] is not None or e["clnsig"] is not None else None for e in edits)
    return notes if any(notes) else ()


def read_tuples(run_dirs) -> Iterator[TrainingTuple]:
    """The tuples of finished run(s), equal to those the live builder yields, in plan order."""
    return RunSet(run_dirs).tuples()


def read_windows(run_dirs) -> Iterator[WindowContext]:
    """The kept windows of finished run(s), in plan order."""
    return RunSet(run_dirs).windows()
