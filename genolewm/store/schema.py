"""The Arrow schema of a run's rows: what every format writes and every reader gives back as dicts."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa

from ..arrow import column
from ..tuples import TupleBlock
from ..types import EDIT_TYPES, WindowContext

EDIT_TYPE = pa.struct(
    [
        ("rel_pos", pa.int32()),
        ("ref", pa.string()),
        ("alt", pa.string()),
        ("edit_type", pa.string()),
        ("source", pa.string()),
        # Which variant the edit is: absolute position (1-based, as in VCF; null when unplaced), and for VCF
        # sources the record's ID, the AF that selected it and its CLNSIG terms (null when unused).
        ("chrom", pa.string()),
        ("pos", pa.int64()),
        ("id", pa.string()),
        ("af", pa.float64()),
        ("clnsig", pa.list_(pa.string())),
    ]
)
# Sequences are large_string: Arrow converts long Python strings to it ~10x faster than to string.
WINDOWS_SCHEMA = pa.schema(
    [
        ("window_index", pa.int64()),
        ("window_id", pa.string()),
        ("record_id", pa.string()),
        ("source", pa.string()),
        ("chrom", pa.string()),
        ("start_bp", pa.int64()),
        ("end_bp", pa.int64()),
        ("sequence", pa.large_string()),
        ("left_flank", pa.string()),
        ("right_flank", pa.string()),
    ]
)
TUPLES_SCHEMA = pa.schema(
    [
        ("window_index", pa.int64()),
        ("window_id", pa.string()),
        ("tuple_index", pa.int32()),
        ("requested_source", pa.string()),
        ("edit_source", pa.string()),
        ("edits", pa.list_(EDIT_TYPE)),
        # The haplotype a haplotype slot drew (null for other slots): sample name, and 0 or 1.
        ("sample", pa.string()),
        ("haplotype", pa.int8()),
        ("adjusted_side", pa.string()),
        ("target_window", pa.large_string()),
    ]
)
WINDOW_META = ("window_index", "window_id", "record_id", "source", "chrom", "start_bp", "end_bp",
               "left_flank", "right_flank")


def window_row(w: WindowContext, sequence: bool = True) -> dict:
    """A window as a row of the windows table (``sequence`` left out when False)."""
    row = {"window_index": w.window_index, "window_id": w.window_id, "record_id": w.record_id, "source": w.source,
           "chrom": w.chrom, "start_bp": w.start_bp, "end_bp": w.end_bp, "left_flank": w.left_flank,
           "right_flank": w.right_flank}
    if sequence:
        row["sequence"] = w.sequence
    return row


def _edit_columns(tuples: TupleBlock) -> list:
    """The edits of ``tuples``, flat, one list (or array) per field of `EDIT_TYPE`."""
    edits = [e for t in tuples.edits for e in t]
    if not edits:
        return [[] for _ in EDIT_TYPE]
    counts = np.fromiter(map(len, tuples.edits), np.int64, len(tuples))
    windows = tuples.windows
    chroms = [windows[row].chrom for row in tuples.rows]
    chrom = [c for c, k in zip(chroms, counts.tolist()) for _ in range(k)]
    rel = np.fromiter((e.rel_pos for e in edits), np.int64, len(edits))
    refs, alts = [e.ref for e in edits], [e.alt for e in edits]
    if None in chroms:  # unplaced windows: no position
        pos = [None if c is None else windows[row].start_bp + 1 + e.rel_pos
               for c, row, t in zip(chroms, tuples.rows, tuples.edits) for e in t]
    else:  # placed windows: the 1-based position, computed for all edits at once
        starts = np.fromiter((windows[row].start_bp + 1 for row in tuples.rows), np.int64, len(tuples))
        pos = np.repeat(starts, counts) + rel
    notes = [n for t, ns in zip(tuples.edits, tuples.notes) for n in (ns or (None,) * len(t))]
    return [rel.astype(np.int32), refs, alts, _edit_types(refs, alts),
            [s for sources in tuples.sources for s in sources], chrom, pos,
            [n.id if n else None for n in notes], [n.af if n else None for n in notes],
            [n.clnsig if n and n.clnsig is not None else None for n in notes]]


def _edit_types(refs: list[str], alts: list[str]) -> list[str]:
    """`edit_type` of each allele pair, by array arithmetic on their lengths."""
    ref_len = np.fromiter(map(len, refs), np.int64, len(refs))
    alt_len = np.fromiter(map(len, alts), np.int64, len(alts))
    anchored = np.fromiter((r[0] == a[0] for r, a in zip(refs, alts)), bool, len(refs))
    kind = np.full(len(refs), EDIT_TYPES.index("INDEL"), np.int64)
    kind[(ref_len == 1) & (alt_len > 1) & anchored] = EDIT_TYPES.index("INS")
    kind[(alt_len == 1) & (ref_len > 1) & anchored] = EDIT_TYPES.index("DEL")
    kind[ref_len == alt_len] = EDIT_TYPES.index("MNV")
    kind[(ref_len == 1) & (alt_len == 1)] = EDIT_TYPES.index("SNV")
    return np.array(EDIT_TYPES, dtype=object)[kind].tolist()


def tuples_schema(store_targets: bool) -> pa.Schema:
    if store_targets:
        return TUPLES_SCHEMA
    return TUPLES_SCHEMA.remove(TUPLES_SCHEMA.get_field_index("target_window"))


def windows_table(windows: Sequence[WindowContext], bases: np.ndarray | None = None) -> pa.Table:
    """Windows as an Arrow table in the run schema; ``bases``, when given, are their sequences as a
    ``[windows, length]`` byte matrix already made (`TupleBlock.window_bytes`)."""
    arrays = []
    for f in WINDOWS_SCHEMA:
        if f.name == "sequence" and bases is not None and len(bases) == len(windows):
            ends = np.arange(len(windows) + 1, dtype=np.int64) * bases.shape[1]
            arrays.append(pa.Array.from_buffers(f.type, len(windows), [None, pa.py_buffer(ends),
                                                                       pa.py_buffer(bases.reshape(-1))]))
        else:
            arrays.append(column([getattr(w, f.name) for w in windows], f.type))
    return pa.Table.from_arrays(arrays, schema=WINDOWS_SCHEMA)


def tuples_table(tuples: TupleBlock, store_targets: bool) -> pa.Table:
    """Tuples as an Arrow table in the run schema (``target_window`` only when ``store_targets``)."""
    schema = tuples_schema(store_targets)
    edits = column(_edit_columns(tuples), EDIT_TYPE)
    offsets = np.zeros(len(tuples) + 1, np.int32)
    np.cumsum([len(e) for e in tuples.edits], out=offsets[1:])
    arrays = []
    for f in schema:
        if f.name == "edits":
            arrays.append(pa.Array.from_buffers(f.type, len(tuples), [None, pa.py_buffer(offsets)], children=[edits]))
        elif f.name == "target_window":
            ends, data = tuples.target_bytes()
            arrays.append(pa.Array.from_buffers(f.type, len(tuples), [None, pa.py_buffer(ends), pa.py_buffer(data)]))
        else:
            arrays.append(column(tuples.column(f.name), f.type))
    return pa.Table.from_arrays(arrays, schema=schema)
