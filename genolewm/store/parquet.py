"""``output=parquet``: each shard is ``windows/part-k.parquet`` and ``tuples/part-k.parquet``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..arrow import as_numpy
from ..errors import ConfigError
from ..tokens import SIDE_CODES, FlatEdits, column_tokens
from ..tuples import TupleBlock
from ..types import ShardRef, WindowContext
from .formats import OutputSettings
from .manifest import inside, unreadable
from .schema import WINDOWS_SCHEMA, tuples_schema, tuples_table, windows_table

COMPRESSIONS = ("zstd", "snappy", "gzip", "lz4", "none")
TABLES = ("windows", "tuples")
# Dictionary-encoding the unique sequences would make reading them ~5x slower.
DICTIONARY_COLUMNS = ("record_id", "source", "chrom", "requested_source", "edit_source", "sample", "adjusted_side")
ROW_GROUP_TUPLES = 2048


SHARD_NAME = re.compile(r"part-(\d{5,})\.parquet")


def shard_path(shard: ShardRef, table: str) -> Path:
    """The shard's file, if it lies inside the run (a link out of it is refused)."""
    return inside(shard.run_dir, shard.run_dir / table / f"part-{shard.block:05d}.parquet")


def _open(path: Path) -> pq.ParquetFile:
    """A shard file whose schema is the run schema (a file that says otherwise is refused, not read)."""
    try:
        # One file: ParquetFile skips read_table's dataset layer (and its import).
        found = pq.ParquetFile(path)
        schema = found.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise unreadable(path, exc) from exc
    expected = (WINDOWS_SCHEMA,) if path.parent.name == "windows" else (tuples_schema(True), tuples_schema(False))
    if not any(schema.equals(e, check_metadata=False) for e in expected):
        difference = _first_difference(schema, expected[0])
        raise unreadable(path, ValueError(f"its schema is not the run schema ({difference})"))
    return found


def _first_difference(schema: pa.Schema, expected: pa.Schema) -> str:
    for field in expected:
        if field.name not in schema.names:
            return f"no column {field.name}"
        if not schema.field(field.name).type.equals(field.type):
            return f"column {field.name} is {schema.field(field.name).type}, not {field.type}"
    extra = [n for n in schema.names if n not in expected.names]
    return f"extra column {extra[0]}" if extra else "columns in another order"


def _read_table(path: Path, columns: list[str] | None = None) -> pa.Table:
    found = _open(path)
    try:
        return found.read(columns=columns)
    except (pa.ArrowException, OSError) as exc:
        raise unreadable(path, exc) from exc


@dataclass(frozen=True)
class ParquetFormat(OutputSettings):
    """Zstd-compressed (by default) Parquet shards; any Parquet reader opens ``tuples/*.parquet``."""

    compression: str = "zstd"
    """The Parquet codec: zstd, snappy, gzip, lz4 or none."""
    compression_level: int | None = None
    """The codec's level; null: its default."""

    name = "parquet"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.compression not in COMPRESSIONS:
            raise ConfigError(
                f"output.compression={self.compression!r}: allowed values are {', '.join(COMPRESSIONS)}"
            )

    def layout(self) -> tuple[str, ...]:
        return TABLES

    def data_files(self) -> dict[str, str]:
        return {"tuples": "tuples/*.parquet", "windows": "windows/*.parquet"}

    def write_shard(self, directory: Path, index: int, windows: Sequence[WindowContext], tuples: TupleBlock) -> None:
        name = f"part-{index:05d}.parquet"
        self._write(directory / "windows" / name, WINDOWS_SCHEMA, [windows_table(windows, tuples.window_bytes())])
        # A row group at a time: a group's targets are made as it is written, never a whole shard's at once.
        self._write(directory / "tuples" / name, tuples_schema(self.store_targets),
                    (tuples_table(tuples[i : i + ROW_GROUP_TUPLES], self.store_targets)
                     for i in range(0, len(tuples), ROW_GROUP_TUPLES)))

    def _write(self, path: Path, schema: pa.Schema, tables: Iterable[pa.Table]) -> None:
        with pq.ParquetWriter(path, schema, compression=None if self.compression == "none" else self.compression,
                              compression_level=self.compression_level,
                              use_dictionary=[c for c in schema.names if c in DICTIONARY_COLUMNS]) as writer:
            for table in tables:
                writer.write_table(table)


def _ints(table: pa.Table, name: str) -> np.ndarray:
    return as_numpy(table.column(name).combine_chunks())


def _tuple_columns(path: Path, with_targets: bool) -> list[str] | None:
    """The columns of a tuples file to read: all (None), or all but the targets."""
    return None if with_targets else [n for n in _open(path).schema_arrow.names if n != "target_window"]


def _coded(column) -> tuple[np.ndarray, list[str]]:
    """A string column as ``(codes, names)``."""
    encoded = pc.dictionary_encode(column)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    return as_numpy(encoded.indices), encoded.dictionary.to_pylist()


class ParquetReader:
    """Reads Parquet shards a batch at a time (rows) or a shard's columns at once (arrays)."""

    targets_are_views = False  # decompressing stored targets costs more than rebuilding them

    def blocks(self, run_dir: Path) -> list[int]:
        names = (SHARD_NAME.fullmatch(p.name) for p in inside(run_dir, Path(run_dir) / "tuples").glob("part-*"))
        return sorted(int(m.group(1)) for m in names if m)

    def label(self, shard: ShardRef, table: str) -> str:
        return f"{table}/part-{shard.block:05d}.parquet"

    def _rows(self, path: Path, columns: list[str] | None = None) -> Iterator[dict]:
        found = _open(path)
        try:
            for batch in found.iter_batches(columns=columns):
                yield from batch.to_pylist()
        except (pa.ArrowException, OSError) as exc:
            raise unreadable(path, exc) from exc

    def window_rows(self, shard: ShardRef) -> Iterator[dict]:
        return self._rows(shard_path(shard, "windows"))

    def tuple_rows(self, shard: ShardRef, with_targets: bool = True) -> Iterator[dict]:
        path = shard_path(shard, "tuples")
        return self._rows(path, _tuple_columns(path, with_targets))

    def shard_arrays(self, shard: ShardRef, with_targets: bool = True) -> dict:
        windows = _read_table(shard_path(shard, "windows"),
                              columns=["window_index", "sequence", "chrom", "left_flank", "right_flank"])
        path = shard_path(shard, "tuples")
        tuples = _read_table(path, _tuple_columns(path, with_targets))
        edits = tuples.column("edits").combine_chunks()
        flat = edits.flatten()
        counts = as_numpy(pc.list_value_length(edits)).astype(np.int64)
        target = tuples.column("target_window") if "target_window" in tuples.column_names else None
        return {
            "window_tokens": column_tokens(windows.column("sequence")),
            "window_rows": np.searchsorted(_ints(windows, "window_index"), _ints(tuples, "window_index")),
            "target": None if target is None else column_tokens(target),
            "edit_offsets": np.concatenate([[0], np.cumsum(counts)]),
            "edits": FlatEdits.from_strings(
                as_numpy(flat.field("rel_pos")), flat.field("edit_type").to_pylist(),
                flat.field("ref").to_pylist(), flat.field("alt").to_pylist(),
            ),
            "window_index": _ints(tuples, "window_index"),
            "tuple_index": _ints(tuples, "tuple_index").astype(np.int64),
            "requested_source": _coded(tuples.column("requested_source")),
            "edit_source": _coded(flat.field("source")),
            "window_chrom": windows.column("chrom").to_pylist(),
            "side": np.array([SIDE_CODES[s] for s in tuples.column("adjusted_side").to_pylist()], np.int8),
            "window_flanks": list(zip(windows.column("left_flank").to_pylist(),
                                      windows.column("right_flank").to_pylist())),
        }

