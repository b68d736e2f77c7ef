"""A block's tuples held as columns: what the builder draws, and what the run formats write in bulk.

A `TupleBlock` is a sequence of `TrainingTuple`
made on access. Formats read its columns and its targets in bulk instead:
a target is its window with the edits applied, so keeping one string per
tuple (~8 per window) would only be copied again by every writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Iterator

import numpy as np

from .edits import adjusted_side, apply_sorted
from .types import Carrier, RelEdit, TrainingTuple, VariantNote, WindowContext

# TrainingTuple fields that are the window's, with the WindowContext attribute holding each.
_WINDOW_FIELDS = {"window_id": "window_id", "source_record_id": "record_id", "window_start_bp": "start_bp",
                  "window_end_bp": "end_bp", "window_index": "window_index", "chrom": "chrom"}


def edit_source(sources: tuple[str, ...]) -> str:
    """A tuple's ``edit_source``: the source that served its edits, or their names sorted and joined by ``+``."""
    return sources[0] if len(sources) == 1 else "+".join(sorted(set(sources)))


class TupleBlock(Sequence):
    """The tuples of a run of windows, in order: per tuple its window (a row of ``windows``), mix slot,
    edits with the sources that served them and their notes, and index in its window. A tuple's edits are
    sorted by position and never overlap (the builder makes them so).

    ``pad`` and ``preserve_length`` are the target settings
    (`TupleSettings`) the targets are made with.
    """

    def __init__(self, pad: str, preserve_length: bool) -> None:
        self.pad, self.preserve_length = pad, preserve_length
        self.windows: list[WindowContext] = []
        self.labels: list[str] = []  # each window's label, made once: messages name the window
        self.rows: list[int] = []
        self.tuple_index: list[int] = []
        self.requested: list[str] = []
        self.sources: list[tuple[str, ...]] = []
        self.edits: list[tuple[RelEdit, ...]] = []
        self.notes: list[tuple[VariantNote | None, ...]] = []
        self.carriers: list[Carrier | None] = []
        self._shared: dict = {}  # what a block and its slices make once (see window_bytes)

    def add_window(self, window: WindowContext) -> int:
        """Add ``window``; return its row for `append`."""
        self.windows.append(window)
        self.labels.append(window.label)
        return len(self.windows) - 1

    def append(self, row: int, tuple_index: int, requested: str, sources: tuple[str, ...],
               edits: tuple[RelEdit, ...], notes: tuple[VariantNote | None, ...], carrier: Carrier | None = None
               ) -> None:
        """One tuple of window ``row``: ``notes`` is () when none of its edits has one; ``carrier`` is the
        haplotype a haplotype slot drew."""
        self.rows.append(row)
        self.tuple_index.append(tuple_index)
        self.requested.append(requested)
        self.sources.append(sources)
        self.edits.append(edits)
        self.notes.append(notes)
        self.carriers.append(carrier)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        if not isinstance(i, slice):
            return self._tuple(i)
        part = TupleBlock(self.pad, self.preserve_length)
        part.windows, part.labels, part._shared = self.windows, self.labels, self._shared
        for name in ("rows", "tuple_index", "requested", "sources", "edits", "notes", "carriers"):
            setattr(part, name, getattr(self, name)[i])
        return part

    def __iter__(self) -> Iterator[TrainingTuple]:
        return map(self._tuple, range(len(self)))

    def _tuple(self, i: int) -> TrainingTuple:
        row, edits, sources = self.rows[i], self.edits[i], self.sources[i]
        window = self.windows[row]
        return TrainingTuple(
            window_id=window.window_id, source_record_id=window.record_id, edit_source=edit_source(sources),
            rel_edits=edits, target_window=self._target(row, edits), window_start_bp=window.start_bp,
            window_end_bp=window.end_bp, window_index=window.window_index, tuple_index=self.tuple_index[i],
            requested_source=self.requested[i], chrom=window.chrom, edit_sources=sources,
            adjusted_side=self._side(row, edits), edit_notes=self.notes[i],
            sample=None if self.carriers[i] is None else self.carriers[i][0],
            haplotype=None if self.carriers[i] is None else self.carriers[i][1],
        )

    def _sides(self) -> list[str | None]:
        if not self.preserve_length:
            return [None] * len(self)
        out: list[str | None] = []
        windows = self.windows
        for row, edits in zip(self.rows, self.edits):
            if len(edits) != 1:  # sorted and apart: the span runs from the first's start to the last's end
                grown = sum([len(e.alt) - len(e.ref) for e in edits])
                last = edits[-1]
                out.append(None if not grown else "right" if edits[0].rel_pos + last.rel_pos + len(last.ref)
                           < len(windows[row].sequence) else "left")
                continue
            e = edits[0]  # one edit: what adjusted_side says, without its generators
            if len(e.ref) == len(e.alt):
                out.append(None)
            else:
                out.append("right" if 2 * e.rel_pos + len(e.ref) < len(windows[row].sequence) else "left")
        return out

    def _side(self, row: int, edits: tuple[RelEdit, ...]) -> str | None:
        return adjusted_side(len(self.windows[row].sequence), edits) if self.preserve_length else None

    def _target(self, row: int, edits: tuple[RelEdit, ...]) -> str:
        window = self.windows[row]
        left, right = (window.left_flank, window.right_flank) if self.pad == "flank" else ("", "")
        return apply_sorted(window.sequence, edits, left_flank=left, right_flank=right,
                            preserve_length=self.preserve_length, where=self.labels[row])

    def column(self, name: str) -> list:
        """The values of the `TrainingTuple` field ``name``, one per tuple."""
        if name in _WINDOW_FIELDS:
            attr, windows = _WINDOW_FIELDS[name], self.windows
            return [getattr(windows[r], attr) for r in self.rows]
        if name == "edit_source":
            return [edit_source(s) for s in self.sources]
        if name == "adjusted_side":
            return self._sides()
        if name == "target_window":
            return list(map(self._target, self.rows, self.edits))
        if name in ("sample", "haplotype"):
            k = name == "haplotype"
            return [None if c is None else c[k] for c in self.carriers]
        own = {"tuple_index": self.tuple_index, "requested_source": self.requested, "edit_sources": self.sources,
               "rel_edits": self.edits, "edit_notes": self.notes}
        return list(own[name])

    def target_bytes(self) -> tuple[np.ndarray, np.ndarray | bytearray]:
        """Every target as ASCII, concatenated (a bytes-like buffer), with the ``len + 1`` offsets of each.

        With ``preserve_length`` and windows of one length, the targets are
        rows of a matrix: each tuple's window bytes, copied in one NumPy call
        (which leaves the GIL to other threads), with the ALTs of edits that
        keep their length written over where their REF matches. Any other
        tuple goes through `apply_edits`, which also names a mismatch.
        """
        n = len(self)
        matrix = self.window_bytes() if n and self.preserve_length else None
        if matrix is None:
            return self._each_target_bytes()
        length = matrix.shape[1]
        out = matrix.take(np.fromiter(self.rows, np.int64, n), axis=0)
        at, pos, refs, alts, others = [], [], [], [], []
        for k, edits in enumerate(self.edits):
            if len(edits) == 1:
                e = edits[0]
                if len(e.ref) != len(e.alt):
                    others.append(k)
                else:
                    at.append(k)
                    pos.append(e.rel_pos)
                    refs.append(e.ref)
                    alts.append(e.alt)
            elif any([len(e.ref) != len(e.alt) for e in edits]):
                others.append(k)
            else:
                at += [k] * len(edits)
                pos += [e.rel_pos for e in edits]
                refs += [e.ref for e in edits]
                alts += [e.alt for e in edits]
        if at:
            sizes = np.fromiter(map(len, alts), np.int64, len(alts))
            tuple_of = np.repeat(np.array(at, np.int64), sizes)
            first = np.cumsum(sizes) - sizes
            column = np.repeat(np.array(pos, np.int64) - first, sizes) + np.arange(len(tuple_of))
            wrong = out[tuple_of, column] != np.frombuffer("".join(refs).encode(), np.uint8)
            if wrong.any():
                others += sorted({int(k) for k in tuple_of[wrong]})
            out[tuple_of, column] = np.frombuffer("".join(alts).encode(), np.uint8)
        for k in others:  # edits that change the length, or one whose REF is not the window's
            row, edits = self.rows[k], self.edits[k]
            if len(edits) != 1 or not self._shift(out[k], matrix[row], self.windows[row], edits[0]):
                out[k] = np.frombuffer(self._target(row, edits).encode(), np.uint8)
        return np.arange(0, (n + 1) * length, length, dtype=np.int64), out.reshape(-1)

    def _shift(self, target: np.ndarray, window: np.ndarray, context: WindowContext, e: RelEdit) -> bool:
        """Make ``target`` (a copy of ``window``'s bytes) the length-preserved target of the one edit ``e``
        that changes the length, as `apply_edits` does: the end away from the edit stays, the other
        loses bases or takes them from its flank (then N). False, leaving it to `apply_edits`, when
        the REF is not the window's or the edit sits too near an end to shift."""
        pos, n, ref_len, alt_len = e.rel_pos, len(window), len(e.ref), len(e.alt)
        if window[pos : pos + ref_len].tobytes() != e.ref.encode():
            return False
        alt = np.frombuffer(e.alt.encode(), np.uint8)
        grown = alt_len - ref_len
        if 2 * pos + ref_len < n:  # the right end moves
            if pos + alt_len > n:
                return False
            target[pos : pos + alt_len] = alt
            if grown > 0:
                target[pos + alt_len :] = window[pos + ref_len : n - grown]
            else:
                target[pos + alt_len : n + grown] = window[pos + ref_len :]
                fill = context.right_flank[:-grown] if self.pad == "flank" else ""
                target[n + grown :] = np.frombuffer((fill + "N" * (-grown - len(fill))).encode(), np.uint8)
        elif grown > 0:  # the left end loses bases
            if grown > pos:
                return False
            target[: pos - grown] = window[grown:pos]
            target[pos - grown : pos + ref_len] = alt
        else:  # the left end takes bases from its flank
            flank = context.left_flank if self.pad == "flank" else ""
            fill = flank[max(0, len(flank) + grown) :]
            target[:-grown] = np.frombuffer(("N" * (-grown - len(fill)) + fill).encode(), np.uint8)
            target[-grown : pos - grown] = window[:pos]
            target[pos - grown : pos + ref_len] = alt
        return True

    def window_bytes(self) -> np.ndarray | None:
        """The windows' bases as a ``[windows, length]`` byte matrix, made once for a block and its slices;
        None when there are none or their lengths differ."""
        windows = self.windows
        if "window_bytes" not in self._shared or self._shared["window_bytes"][0] != len(windows):
            length = len(windows[0].sequence) if windows else 0
            matrix = None
            if length and all(len(w.sequence) == length for w in windows):
                matrix = np.frombuffer(b"".join(w.ascii() for w in windows), np.uint8).reshape(len(windows), length)
            self._shared["window_bytes"] = (len(windows), matrix)
        return self._shared["window_bytes"][1]

    def _each_target_bytes(self) -> tuple[np.ndarray, bytearray]:
        data, ends = bytearray(), [0]
        for row, edits in zip(self.rows, self.edits):
            data += self._target(row, edits).encode()
            ends.append(len(data))
        return np.array(ends, np.int64), data
