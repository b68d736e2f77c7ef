"""The usable alleles a VCF source has read along one contig, and the pools of a block of windows.

A `Pass` reads a contig forward (windows arrive in order along it and
overlap), keeping the alleles its filter accepts as columns (`Rows`)
and the skipped ones with their reasons. `Pass.prepare` serves a run
of windows at once: it reads on past the last one, counts the skipped
alleles that start inside them, checks each new allele's REF against the
window that holds it, and finds each window's pool with ``searchsorted``
over the allele starts, so no window's alleles are looked at one by one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Callable, Iterator, Sequence

import numpy as np

from ..types import MAX_ALLELE_BP, RelEdit, WindowContext
from .filters import Selected, variant_note

REF_UNCHECKED, REF_OK, REF_BAD = 0, 1, 2
_N = ord("N")
_OFFSETS = np.arange(MAX_ALLELE_BP)


@dataclass(frozen=True)
class Rows:
    """Alleles in file order, as columns: ``start`` (0-based), ``end`` (start + len(REF)), REF ``state``
    (REF_UNCHECKED, REF_OK or REF_BAD), ``dup`` (an earlier allele has the same start, REF and ALT),
    ``ref_bytes`` (REF padded to 16 bytes), and ``ref``, ``alt``, ``id``, ``af``, ``clnsig`` (the note's
    fields) and ``classes`` (the record's CLNSIG as written, when the filter classifies; else None).

    A new `Rows` is made whenever alleles are added or dropped, so a window's pool keeps the
    columns it indexes; only ``state`` is filled in place, once per allele.
    """

    start: np.ndarray
    end: np.ndarray
    state: np.ndarray
    dup: np.ndarray
    ref_bytes: np.ndarray
    ref: np.ndarray
    alt: np.ndarray
    id: np.ndarray
    af: np.ndarray
    clnsig: np.ndarray
    classes: np.ndarray | None

    @classmethod
    def of(cls, sel: Selected) -> "Rows":
        refs = np.array(sel.ref, dtype=object)
        lengths = np.fromiter(map(len, sel.ref), np.int64, len(sel.ref))
        ref_bytes = np.array(sel.ref, dtype=f"S{MAX_ALLELE_BP}").view(np.uint8).reshape(len(refs), MAX_ALLELE_BP)
        return cls(sel.start.astype(np.int64), sel.start + lengths, np.zeros(len(refs), np.uint8),
                   np.zeros(len(refs), bool), ref_bytes, refs, np.array(sel.alt, dtype=object), sel.id, sel.af,
                   sel.clnsig, sel.classes)

    def __len__(self) -> int:
        return len(self.start)

    def _columns(self) -> tuple:
        return tuple(getattr(self, f.name) for f in fields(self))

    def since(self, k: int) -> "Rows":
        return Rows(*(None if v is None else v[k:] for v in self._columns()))

    @classmethod
    def joined(cls, parts: list["Rows"], new: int) -> "Rows":
        """``parts`` one after the other, with ``dup`` found for the rows from ``new`` on."""
        out = cls(*(None if column[0] is None else np.concatenate(column)
                    for column in zip(*(p._columns() for p in parts))))
        _mark_repeats(out, new)
        return out


def _mark_repeats(rows: Rows, first: int) -> None:
    """Set ``dup`` for the rows from ``first`` on that repeat an earlier allele. Records are sorted by
    start, so a repeat can only share its start with the rows just before it."""
    start = rows.start
    lo = max(first, 1)
    same = np.flatnonzero(start[lo:] == start[lo - 1 : -1]) + lo
    refs, alts, dup = rows.ref, rows.alt, rows.dup
    for i in same.tolist():
        j = i - 1
        while j >= 0 and start[j] == start[i]:
            if refs[j] == refs[i] and alts[j] == alts[i]:
                dup[i] = True
                break
            j -= 1


@dataclass
class Skipped:
    """The skipped alleles in file order: their record's ``start``, ``reason`` and (when the filter
    classifies) CLNSIG as written."""

    start: np.ndarray
    reason: np.ndarray
    classes: np.ndarray | None

    @classmethod
    def of(cls, sel: Selected) -> "Skipped":
        return cls(sel.skipped_start, sel.skipped_reason, sel.skipped_classes)

    def since(self, k: int) -> "Skipped":
        return Skipped(self.start[k:], self.reason[k:], None if self.classes is None else self.classes[k:])

    @classmethod
    def joined(cls, parts: list["Skipped"]) -> "Skipped":
        return cls(np.concatenate([p.start for p in parts]), np.concatenate([p.reason for p in parts]),
                   None if parts[0].classes is None else np.concatenate([p.classes for p in parts]))


@dataclass
class Pool:
    """The eligible alleles of one window: rows ``good[i0:i1]`` of ``rows``, then those of
    ``good[i1:i2]`` that end by ``hi`` (only alleles starting within 16 bp of ``hi`` can reach past it)."""

    rows: Rows
    good: np.ndarray
    i0: int
    i1: int
    i2: int
    hi: int
    _indices: list[int] | None = field(default=None, repr=False)

    def indices(self) -> list[int]:
        if self._indices is None:
            out = self.good[self.i0 : self.i1].tolist()
            if self.i2 > self.i1:
                end = self.rows.end
                out += [r for r in self.good[self.i1 : self.i2].tolist() if end[r] <= self.hi]
            self._indices = out
        return self._indices

    def edit(self, row: int, offset: int) -> RelEdit:
        rows = self.rows  # alleles the filter passed: A/C/G/T, distinct, short enough
        return RelEdit.known(int(rows.start[row]) - offset, rows.ref[row], rows.alt[row])

    def note(self, row: int):
        rows = self.rows
        return variant_note(rows.id[row], rows.af[row], rows.clnsig[row])


@dataclass
class Pass:
    """One forward read of a contig: the alleles read so far that windows from the last one served
    (whose interior starts at ``at``) on may still need; skip counts are complete below ``counted_to``."""

    chrom: str
    at: int
    batches: Iterator[tuple[Selected, int]] | None
    counted_to: int = 0
    read_to: int = -1  # the start of the last record read
    rows: Rows | None = None  # None until the first batch is read
    skipped: Skipped | None = None

    def __post_init__(self) -> None:
        self.counted_to = self.at

    def _read_to(self, hi: int) -> None:
        """Read on until every record starting before ``hi`` is in."""
        kept = [] if self.rows is None else [self.rows]
        skipped = [] if self.skipped is None else [self.skipped]
        new = len(self.rows) if self.rows is not None else 0
        while self.read_to < hi and self.batches is not None:
            got = next(self.batches, None)
            if got is None:
                self.batches = None
                break
            sel, self.read_to = got
            kept.append(Rows.of(sel))
            skipped.append(Skipped.of(sel))
        if len(kept) > (self.rows is not None):
            self.rows, self.skipped = Rows.joined(kept, new), Skipped.joined(skipped)

    def _drop_before(self, lo: int) -> None:
        # Windows only move forward: what starts before ``lo`` is never looked at again. Dropped only once
        # it is half the rows, so the columns are not copied for every block.
        if self.rows is None:
            return
        k = int(np.searchsorted(self.rows.start, lo))
        if k * 2 > len(self.rows):
            self.rows = self.rows.since(k)
        k = int(np.searchsorted(self.skipped.start, lo))
        if k * 2 > len(self.skipped.start):
            self.skipped = self.skipped.since(k)

    def prepare(self, windows: Sequence[WindowContext], los: np.ndarray, his: np.ndarray, floor: int,
                mismatch: Callable[[int, str, str, str], Exception] | None, counts: Counter,
                classified: Counter) -> list[Pool]:
        """The pools of ``windows`` (in order along this contig; interiors ``[los, his)``), counting into
        ``counts`` and ``classified`` the alleles skipped (and, with a classification filter, selected)
        that start inside them, past ``floor`` and past what this pass counted already. A REF that does
        not match raises ``mismatch(start, ref, alt, actual)`` if given, else is counted and skipped."""
        top = int(his.max())
        self._drop_before(int(los[0]))
        self._read_to(top)
        if self.rows is None:
            return [Pool(None, np.zeros(0, np.int64), 0, 0, 0, int(hi)) for hi in his]
        rows = self.rows
        self._count(*uncounted(los, his, floor, self.counted_to), counts, classified)
        self.counted_to, self.at = max(self.counted_to, top), int(los[-1])
        a, b = np.searchsorted(rows.start, [los[0], top])
        self._check_refs(windows, los, his, int(a), int(b), floor, mismatch, counts)
        good = a + np.flatnonzero((rows.state[a:b] == REF_OK) & ~rows.dup[a:b])
        starts = rows.start[good]
        i0 = np.searchsorted(starts, los).tolist()
        i1 = np.searchsorted(starts, np.maximum(his - MAX_ALLELE_BP, los)).tolist()
        i2 = np.searchsorted(starts, his).tolist()
        return [Pool(rows, good, i0[k], i1[k], i2[k], int(his[k])) for k in range(len(windows))]

    def _count(self, since: np.ndarray, his: np.ndarray, counts: Counter, classified: Counter) -> None:
        """Count the alleles starting in the intervals ``[since, his)`` (disjoint, in order)."""
        if not len(since):
            return
        skipped = self.skipped
        hit = _in_intervals(skipped.start, since, his)
        if hit.any():
            counts.update(skipped.reason[hit].tolist())
        if skipped.classes is not None:
            classified.update((value, "rejected") for value in skipped.classes[hit].tolist())
        if self.rows.classes is not None:
            kept = _in_intervals(self.rows.start, since, his)
            classified.update((value, "selected") for value in self.rows.classes[kept].tolist())

    def _check_refs(self, windows: Sequence[WindowContext], los: np.ndarray, his: np.ndarray, a: int, b: int,
                    floor: int, mismatch: Callable[[int, str, str, str], Exception] | None,
                    counts: Counter) -> None:
        """Check REF against the reference for the unchecked alleles among rows ``[a, b)`` that lie wholly
        inside a window's interior: the reference is the same in every window, so once per allele. An N
        there (a gap, or an IUPAC code) leaves the base open: ``ref_ambiguous``, not a mismatch."""
        rows = self.rows
        start, end = rows.start[a:b], rows.end[a:b]
        # Of the windows starting at or before an allele, the one reaching furthest holds it if any does.
        reach = np.maximum.accumulate(his)
        furthest = np.maximum.accumulate(np.where(his == reach, np.arange(len(his)), 0))
        holder = furthest[np.searchsorted(los, start, side="right") - 1]
        todo = np.flatnonzero((end <= his[holder]) & (rows.state[a:b] == REF_UNCHECKED))
        if not len(todo):
            return
        holder = holder[todo]
        todo += a
        bases = np.frombuffer(b"".join(w.ascii() for w in windows), np.uint8)
        lengths = np.fromiter((len(w.sequence) for w in windows), np.int64, len(windows))
        first = np.cumsum(lengths) - lengths
        begins = np.fromiter((w.start_bp for w in windows), np.int64, len(windows))
        at = first[holder] + (rows.start[todo] - begins[holder])
        actual = bases[np.minimum(at[:, None] + _OFFSETS, len(bases) - 1)]
        used = _OFFSETS < (rows.end[todo] - rows.start[todo])[:, None]
        bad = ((actual != rows.ref_bytes[todo]) & used).any(axis=1)
        open_ = ((actual == _N) & used).any(axis=1)
        wrong = bad & ~open_
        if mismatch is not None and wrong.any():
            k = int(np.flatnonzero(wrong)[0])
            r = int(todo[k])
            raise mismatch(int(rows.start[r]), rows.ref[r], rows.alt[r],
                           actual[k][: int(rows.end[r] - rows.start[r])].tobytes().decode())
        rows.state[todo] = np.where(bad, REF_BAD, REF_OK)
        fresh = rows.end[todo] > floor  # not checked by an earlier block
        for reason, hit in (("ref_ambiguous", bad & open_ & fresh), ("ref_mismatch", wrong & fresh)):
            n = int(hit.sum())
            if n:
                counts[reason] += n


def uncounted(los: np.ndarray, his: np.ndarray, floor: int, counted_to: int) -> tuple[np.ndarray, np.ndarray]:
    """The parts ``[since, his)`` of window interiors ``[los, his)`` (windows in order along a contig) that
    no count has covered: past ``floor`` (an earlier block's), ``counted_to`` (this reader's) and the
    windows before; disjoint and in order, windows already covered left out."""
    previous = np.maximum.accumulate(np.concatenate([[counted_to], his[:-1]]))
    since = np.maximum(np.maximum(los, floor), previous)
    inside = his > since
    return since[inside], his[inside]


def _in_intervals(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Where sorted ``values`` fall inside one of the disjoint, ordered intervals ``[lo, hi)``."""
    a, b = np.searchsorted(values, lo), np.searchsorted(values, hi)
    marks = np.zeros(len(values) + 1, np.int64)
    np.add.at(marks, a, 1)
    np.add.at(marks, b, -1)
    return np.cumsum(marks[:-1]) > 0
