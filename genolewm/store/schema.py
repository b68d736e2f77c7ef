"""The Arrow schema of a run's rows: what every format writes and every reader gives back as dicts."""

from __future__ import annotations

from typing import Sequence

import pyarrow as pa

from ..types import TrainingTuple, WindowContext

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


def edit_rows(t: TrainingTuple) -> list[dict]:
    notes = t.edit_notes or (None,) * len(t.rel_edits)
    return [{"rel_pos": e.rel_pos, "ref": e.ref, "alt": e.alt, "edit_type": e.edit_type, "source": src,
             "chrom": t.chrom, "pos": None if t.chrom is None else t.window_start_bp + e.rel_pos + 1,
             "id": note.id if note else None, "af": note.af if note else None,
             "clnsig": list(note.clnsig) if note and note.clnsig is not None else None}
            for e, src, note in zip(t.rel_edits, t.edit_sources, notes)]


def tuples_schema(store_targets: bool) -> pa.Schema:
    if store_targets:
        return TUPLES_SCHEMA
    return TUPLES_SCHEMA.remove(TUPLES_SCHEMA.get_field_index("target_window"))


def block_tables(windows: Sequence[WindowContext], tuples: Sequence[TrainingTuple],
                 store_targets: bool) -> tuple[pa.Table, pa.Table]:
    """The windows and tuples of one block as Arrow tables in the run schema."""
    window_table = pa.table({name: [getattr(w, name) for w in windows] for name in WINDOWS_SCHEMA.names},
                            schema=WINDOWS_SCHEMA)
    columns = {
        "window_index": [t.window_index for t in tuples], "window_id": [t.window_id for t in tuples],
        "tuple_index": [t.tuple_index for t in tuples], "requested_source": [t.requested_source for t in tuples],
        "edit_source": [t.edit_source for t in tuples], "edits": [edit_rows(t) for t in tuples],
        "adjusted_side": [t.adjusted_side for t in tuples],
    }
    if store_targets:
        columns["target_window"] = [t.target_window for t in tuples]
    return window_table, pa.table(columns, schema=tuples_schema(store_targets))
