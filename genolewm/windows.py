"""Reference windows: tiling a FASTA (placed) or a sequence corpus (unplaced).

Coordinates are 0-based half-open: ``start_bp`` inclusive, ``end_bp`` exclusive.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import pysam

from .contigs import ContigNames
from .errors import ConfigError, InputError

_NOT_ACGTN = re.compile(r"[^ACGTN]")
NON_ACGTN_POLICIES = ("error", "mask")


def first_non_acgtn(bases: str) -> str | None:
    """The first character of ``bases`` that is not A/C/G/T/N, or None."""
    try:
        # Deleting the allowed bytes is several times faster than a regex scan.
        rest = bases.encode("ascii").translate(None, b"ACGTN")
    except UnicodeEncodeError:
        return next(c for c in bases if ord(c) > 127)
    return chr(rest[0]) if rest else None


@dataclass(frozen=True, slots=True)
class WindowContext:
    """One reference window plus where it came from.

    ``chrom`` is None for unplaced (corpus) windows, which then carry no
    genome coordinates and receive no VCF variants. ``left_flank`` and
    ``right_flank`` are the real bases just outside the window (shorter only
    where the sequence ends); they refill a target after a deletion.
    """

    record_id: str
    source: str
    sequence: str
    start_bp: int = 0
    chrom: str | None = None
    window_index: int = 0
    left_flank: str = ""
    right_flank: str = ""
    window_id: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.start_bp < 0:
            raise InputError(f"window {self.record_id}:{self.start_bp}: start_bp must be >= 0")
        for name in ("sequence", "left_flank", "right_flank"):
            bad = first_non_acgtn(getattr(self, name))
            if bad is not None:
                raise InputError(
                    f"window {self.record_id}:{self.start_bp}: {name} has {bad!r}; "
                    "windows hold uppercase A/C/G/T/N only"
                )
        if not self.window_id:
            object.__setattr__(self, "window_id", hashlib.sha256(self.sequence.encode()).hexdigest())

    @property
    def end_bp(self) -> int:
        return self.start_bp + len(self.sequence)

    @property
    def placed(self) -> bool:
        return self.chrom is not None

    @property
    def label(self) -> str:
        """How messages name this window."""
        return f"window {self.window_index} ({self.record_id}:{self.start_bp}-{self.end_bp})"


def tile_starts(length: int, window_bp: int, stride_bp: int, margin_bp: int) -> range:
    """Window starts on a sequence of ``length`` bases, ``margin_bp`` clear of both ends."""
    last = length - margin_bp - window_bp
    if last < margin_bp:
        return range(0)
    return range(margin_bp, last + 1, stride_bp)


@dataclass
class WindowStats:
    seen: int = 0
    skipped_n: int = 0


@dataclass
class _Tiling:
    """Settings shared by both window sources, validated once."""

    window_bp: int = 12_288
    stride_bp: int = 8_192
    margin_bp: int = 256
    max_n_fraction: float = 0.5
    non_acgtn: str = "error"
    flank_bp: int = 64
    source: str = "reference"
    stats: WindowStats = field(default_factory=WindowStats, init=False, repr=False)

    def __post_init__(self) -> None:
        for key in ("window_bp", "stride_bp"):
            if int(getattr(self, key)) <= 0:
                raise ConfigError(f"windows.{key}={getattr(self, key)}: must be a positive integer")
        for key in ("margin_bp", "flank_bp"):
            if int(getattr(self, key)) < 0:
                raise ConfigError(f"windows.{key}={getattr(self, key)}: must be >= 0")
        if not 0.0 <= float(self.max_n_fraction) <= 1.0:
            raise ConfigError(f"windows.max_n_fraction={self.max_n_fraction}: must be in [0, 1]")
        if self.non_acgtn not in NON_ACGTN_POLICIES:
            raise ConfigError(
                f"windows.non_acgtn={self.non_acgtn!r}: allowed values are {', '.join(NON_ACGTN_POLICIES)}"
            )

    def _canonical(self, bases: str, where: str) -> str:
        bases = bases.upper()
        bad = first_non_acgtn(bases)
        if bad is not None:
            if self.non_acgtn == "error":
                raise InputError(
                    f"{where}: base {bad!r} is not A/C/G/T/N; set windows.non_acgtn=mask to read such bases as N"
                )
            bases = _NOT_ACGTN.sub("N", bases)
        return bases

    def _lengths(self) -> Iterator[tuple[str, int]]:
        """``(sequence name, length)`` of every sequence tiled, in order."""
        raise NotImplementedError

    def _tiles(self) -> Iterator[tuple[str, int, int, range]]:
        """``(name, length, plan index of its first window, window starts)`` per sequence."""
        first = 0
        for name, length in self._lengths():
            starts = tile_starts(length, self.window_bp, self.stride_bp, self.margin_bp)
            yield name, length, first, starts
            first += len(starts)

    def plan_size(self) -> int:
        """How many windows the tiling plans (before N-skipping and holdouts)."""
        return sum(len(starts) for *_, starts in self._tiles())

    def locate(self, index: int) -> tuple[str, int]:
        """``(sequence name, start_bp)`` of the window with plan index ``index``."""
        for name, _, first, starts in self._tiles():
            if index < first + len(starts):
                return name, starts[index - first]
        raise IndexError(f"window index {index} is past the end of the plan ({self.plan_size()} windows)")

    def window_at(self, index: int) -> WindowContext | None:
        """The window with plan index ``index``, or None if it is mostly N; counts nothing."""
        return next(self.iter_windows(start=index, stop=index + 1, stats=WindowStats()), None)

    def _windows_of(
        self, record_id: str, chrom: str | None, length: int, fetch: Callable[[int, int], str],
        first_index: int, starts: range, select: Callable[[int], bool] | None, where: str, source: str,
        stats: WindowStats,
    ) -> Iterator[WindowContext]:
        """Windows at ``starts`` of one sequence; the first has plan index ``first_index``."""
        for k, start in enumerate(starts):
            index = first_index + k
            if select is not None and not select(index):
                continue
            stats.seen += 1
            lo = max(0, start - self.flank_bp)
            end = start + self.window_bp
            hi = min(length, end + self.flank_bp)
            region = fetch(lo, hi)
            seq = region[start - lo : end - lo]
            if seq.count("N") > self.max_n_fraction * self.window_bp:
                stats.skipped_n += 1
                continue
            yield WindowContext(
                record_id=record_id, source=source, sequence=seq, start_bp=start,
                chrom=chrom, window_index=index,
                left_flank=region[: start - lo], right_flank=region[end - lo :],
            )


class _ChunkedReader:
    """Serves regions of one sequence from large canonicalised chunks.

    One read and one uppercase/alphabet pass per chunk instead of per
    (overlapping) window; memory is one chunk.
    """

    CHUNK_BP = 1 << 20

    def __init__(self, read: Callable[[int, int], str], length: int,
                 canonical: Callable[[str, int, int], str]) -> None:
        self.read, self.length, self.canonical = read, length, canonical
        self.lo = self.hi = 0
        self.chunk = ""

    def __call__(self, lo: int, hi: int) -> str:
        if lo < self.lo or hi > self.hi:
            self.lo, self.hi = lo, min(self.length, max(hi, lo + self.CHUNK_BP))
            self.chunk = self.canonical(self.read(self.lo, self.hi), self.lo, self.hi)
        return self.chunk[lo - self.lo : hi - self.lo]


def _require_file(path: str, key: str) -> str:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"{key}: file not found: {path}")
    return path


@dataclass
class ReferenceWindows(_Tiling):
    """Placed windows tiled along the chromosomes of an indexed FASTA.

    ``chromosomes`` None means every sequence in the FASTA, in file order;
    names may use any convention (``1`` or ``chr1``). The FASTA's own names
    are the ones every output uses.
    """

    fasta: str = ""
    chromosomes: Sequence[str] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.fasta = _require_file(self.fasta, "paths.reference")
        try:
            with pysam.FastaFile(self.fasta) as fa:
                lengths = dict(zip(fa.references, fa.lengths))
        except (OSError, ValueError) as exc:
            raise InputError(f"paths.reference: cannot read FASTA {self.fasta}: {exc}") from exc
        self.contigs = ContigNames(lengths)
        if self.chromosomes is None:
            names = list(lengths)
        else:
            found = {str(c): self.contigs.find(str(c)) for c in self.chromosomes}
            missing = [c for c, name in found.items() if name is None]
            if missing:
                raise InputError(
                    f"windows.chromosomes: {', '.join(missing)} not in {self.fasta} (it has {self.contigs.preview(8)})"
                )
            names = list(found.values())
        self.lengths = {c: lengths[c] for c in names}

    def _lengths(self) -> Iterator[tuple[str, int]]:
        return iter(self.lengths.items())

    def iter_windows(
        self, select: Callable[[int], bool] | None = None, start: int = 0, stop: int | None = None,
        stats: WindowStats | None = None,
    ) -> Iterator[WindowContext]:
        """Windows with plan index in ``[start, stop)`` that pass ``select`` (all when None).

        Counts go to ``stats`` (default: ``self.stats``).
        """
        stats = self.stats if stats is None else stats
        # Opened here, not in __init__, so the object pickles into worker processes.
        with pysam.FastaFile(self.fasta) as fa:
            for chrom, length, first, starts in self._tiles():
                a = max(start - first, 0)
                b = len(starts) if stop is None else min(stop - first, len(starts))
                if a >= b:
                    continue
                fetch = _ChunkedReader(
                    lambda lo, hi, c=chrom: fa.fetch(c, lo, hi), length,
                    lambda bases, lo, hi, c=chrom: self._canonical(bases, f"{self.fasta} {c}:{lo}-{hi}"),
                )
                yield from self._windows_of(
                    chrom, chrom, length, fetch, first + a, starts[a:b], select, self.fasta, self.source, stats
                )

    def __iter__(self) -> Iterator[WindowContext]:
        return self.iter_windows()


@dataclass
class CorpusWindows(_Tiling):
    """Unplaced windows from the records of a FASTA/FASTQ corpus (optionally gzipped).

    Each window's ``source`` label is ``source``, unless ``source_tag`` is set
    and the record's header comment carries ``<source_tag>=<label>``
    (e.g. ``>rec_7 source=phage``).
    """

    path: str = ""
    margin_bp: int = 0
    source: str = "corpus"
    source_tag: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.path = _require_file(self.path, "paths.corpus")
        self._record_lengths: list[tuple[str, int]] | None = None
        self._scan_state: list | None = None

    contigs = ContigNames(())

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_scan_state"] = None  # an open reader never travels
        return state

    def _scan(self, start: int) -> Iterator[tuple[int, int, pysam.FastxRecord]]:
        """``(plan index of its first window, its window count, record)`` from the record holding ``start``.

        Successive calls for later parts of the plan continue the open reader,
        so building a corpus block by block reads it once.
        """
        state = self._scan_state
        if state is None or state[0] != os.getpid() or state[1] is None or start < state[1][0]:
            records = ((first, len(starts), rec) for (_, _, first, starts), rec in zip(self._tiles(), self._records()))
            state = self._scan_state = [os.getpid(), next(records, None), records]
        while state[1] is not None:
            first, n, _ = state[1]
            if first + n > start:
                yield state[1]
            state[1] = next(state[2], None)

    def _records(self) -> Iterator[pysam.FastxRecord]:
        try:
            with pysam.FastxFile(self.path) as fx:
                yield from fx
        except (OSError, ValueError) as exc:
            raise InputError(f"paths.corpus: cannot read {self.path}: {exc}") from exc

    def _lengths(self) -> Iterator[tuple[str, int]]:
        # One pass over the corpus, once, gives the plan every worker and shard shares.
        if self._record_lengths is None:
            self._record_lengths = [(rec.name, len(rec.sequence or "")) for rec in self._records()]
        return iter(self._record_lengths)

    def _label(self, comment: str | None) -> str:
        if self.source_tag and comment:
            prefix = self.source_tag + "="
            for token in comment.split():
                if token.startswith(prefix) and len(token) > len(prefix):
                    return token[len(prefix):]
        return self.source

    def iter_windows(
        self, select: Callable[[int], bool] | None = None, start: int = 0, stop: int | None = None,
        stats: WindowStats | None = None,
    ) -> Iterator[WindowContext]:
        """Windows with plan index in ``[start, stop)`` that pass ``select`` (all when None)."""
        stats = self.stats if stats is None else stats
        for first, n, rec in self._scan(start):
            if stop is not None and first >= stop:
                return
            length = len(rec.sequence or "")
            a = max(start - first, 0)
            b = n if stop is None else min(stop - first, n)
            seq = self._canonical(rec.sequence or "", f"{self.path} {rec.name}")
            starts = tile_starts(length, self.window_bp, self.stride_bp, self.margin_bp)
            yield from self._windows_of(
                rec.name, None, length, lambda lo, hi, s=seq: s[lo:hi], first + a, starts[a:b], select,
                self.path, self._label(rec.comment), stats,
            )
            if stop is not None and first + n >= stop:
                return  # without reading the next record, so the next block resumes here

    def __iter__(self) -> Iterator[WindowContext]:
        return self.iter_windows()
