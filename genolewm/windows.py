"""Window sources: tiling a FASTA (placed), the regions of a BED file on it, or a sequence corpus (unplaced).

Each is a `WindowSource`: a plan of windows addressed
by plan index, read block by block. Coordinates are 0-based half-open:
``start_bp`` inclusive, ``end_bp`` exclusive.
"""

from __future__ import annotations

import bisect
import os
import re
from collections import Counter
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import Callable, ClassVar, Iterable, Iterator, Mapping, Sequence

import pysam

from .bed import read_bed
from .contigs import ContigNames, count_kinds, sequence_kind
from .errors import ConfigError, ContractError, InputError
from .remote import exists
from .types import Planned, WindowContext, WindowSource, digest, first_non_acgtn

_NOT_ACGTN = re.compile(r"[^ACGTN]")
NON_ACGTN_POLICIES = ("error", "mask")
NO_CODES: Mapping[str, int] = MappingProxyType({})


def tile_starts(length: int, window_bp: int, stride_bp: int, margin_bp: int) -> range:
    """Window starts on a sequence of ``length`` bases, ``margin_bp`` clear of both ends."""
    last = length - margin_bp - window_bp
    if last < margin_bp:
        return range(0)
    return range(margin_bp, last + 1, stride_bp)


@dataclass
class Tiling:
    """Settings every window source shares, validated once; the plan arithmetic built on them.

    A subclass says which sequences it tiles (``_tiles``) and how it reads
    them (``iter_plan``), and what it reads and is (``inputs``,
    ``audit_spec``); the rest of the `WindowSource`
    protocol comes from here.
    """

    window_bp: int = 12_288
    """Bases in every window."""
    stride_bp: int = 8_192
    """Bases from one window's start to the next one's along a sequence."""
    margin_bp: int = 256
    """Bases kept clear of each sequence end; a sequence shorter than `window_bp + 2 * margin_bp` gives no window."""
    max_n_fraction: float = 0.5
    """Windows with more than this fraction of N (assembly gaps) are skipped and counted as `skipped_n`."""
    non_acgtn: str = "mask"
    """IUPAC codes other than N: `mask` reads them as N and counts them in the manifest's `masked_bases`; `error` stops
    the build."""
    flank_bp: int = 512  # enough to refill the deletions of 32 edits (a haplotype tuple holds up to 32)
    """Real bases kept on each side of a window, to refill targets that indels shorten (`target.pad: flank`)."""
    source: str = "reference"
    """The `source` label every window of this source carries."""

    placed = True
    sequence_names = ContigNames(())
    # The fields that name input files: inputs() returns them; identity() leaves them to the manifest's hashes.
    input_fields: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for key, minimum in (("window_bp", 1), ("stride_bp", 1), ("margin_bp", 0), ("flank_bp", 0)):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ConfigError(f"windows.{key}={value!r}: must be an integer >= {minimum}")
        if not 0.0 <= float(self.max_n_fraction) <= 1.0:
            raise ConfigError(f"windows.max_n_fraction={self.max_n_fraction}: must be in [0, 1]")
        if self.non_acgtn not in NON_ACGTN_POLICIES:
            raise ConfigError(
                f"windows.non_acgtn={self.non_acgtn!r}: allowed values are {', '.join(NON_ACGTN_POLICIES)}"
            )

    def settings(self) -> dict:
        """The configured fields, as the config gives them."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init}

    def identity(self) -> str:
        """Digest of the class and its settings; the inputs' contents are hashed in the manifest."""
        body = {k: v for k, v in self.settings().items() if k not in self.input_fields}
        return digest({"class": type(self).__qualname__, **body})

    def inputs(self) -> tuple[str, ...]:
        return tuple(getattr(self, key) for key in self.input_fields)

    def _canonical(self, bases: str, where: str) -> tuple[str, list[int], list[str]]:
        """``bases`` upper-cased, and where it had IUPAC codes other than N (read as N with ``mask``):
        their offsets and codes."""
        bases = bases.upper()
        bad = first_non_acgtn(bases)
        if bad is None:
            return bases, [], []
        if self.non_acgtn == "error":
            raise InputError(
                f"{where}: base {bad!r} is not A/C/G/T/N; set windows.non_acgtn=mask to read such bases as N"
            )
        found = [(m.start(), m.group()) for m in _NOT_ACGTN.finditer(bases)]
        return _NOT_ACGTN.sub("N", bases), [at for at, _ in found], [code for _, code in found]

    def _tiles(self) -> Iterator[tuple[str, int, int, range]]:
        """``(name, length, plan index of its first window, window starts)`` per tiled sequence."""
        raise NotImplementedError

    def plan_size(self) -> int:
        """How many windows the tiling plans (before N-skipping and holdouts)."""
        return sum(len(starts) for *_, starts in self._tiles())

    def records(self) -> list[str]:
        return list(dict.fromkeys(name for name, *_ in self._tiles()))

    def sequences(self) -> dict:
        """Every sequence of the input is tiled, unless a subclass says otherwise."""
        return {"tiled": len(self.records()), "left_out": {}}

    def locate(self, index: int) -> tuple[str, int]:
        """``(sequence name, start_bp)`` of the window with plan index ``index``."""
        for name, _, first, starts in self._tiles():
            if index < first + len(starts):
                return name, starts[index - first]
        raise IndexError(f"window index {index} is past the end of the plan ({self.plan_size()} windows)")

    def iter_plan(self, start: int = 0, stop: int | None = None) -> Iterator[Planned]:
        raise NotImplementedError

    def window_at(self, index: int) -> WindowContext | None:
        """The window with plan index ``index``, or None if it is mostly N."""
        return next(self.iter_plan(index, index + 1))[1]

    def iter_windows(self, start: int = 0, stop: int | None = None) -> Iterator[WindowContext]:
        """The windows (mostly-N ones left out) with plan index in ``[start, stop)``."""
        return (window for _, window, _ in self.iter_plan(start, stop) if window is not None)

    def __iter__(self) -> Iterator[WindowContext]:
        return self.iter_windows()

    def _windows_of(
        self, record_id: str, chrom: str | None, length: int, reader: "_ChunkedReader",
        first_index: int, starts: range, tile_start: int, source: str,
    ) -> Iterator[Planned]:
        """The planned windows at ``starts`` of one sequence; the first has plan index ``first_index``, and
        the tile they belong to begins at ``tile_start``.

        Each counts the IUPAC codes read as N among its new bases: those no
        earlier window of its tile covers, so overlapping windows count each
        base once, whichever block reads them.
        """
        for k, start in enumerate(starts):
            lo = max(0, start - self.flank_bp)
            end = start + self.window_bp
            hi = min(length, end + self.flank_bp)
            region = reader(lo, hi)
            new_from = start if start == tile_start else max(start, start - self.stride_bp + self.window_bp)
            codes = reader.codes(new_from, end)
            seq = region[start - lo : end - lo]
            if seq.count("N") > self.max_n_fraction * self.window_bp:
                yield first_index + k, None, codes
                continue
            yield first_index + k, WindowContext(
                record_id=record_id, source=source, sequence=seq, start_bp=start,
                chrom=chrom, window_index=first_index + k,
                left_flank=region[: start - lo], right_flank=region[end - lo :], bases_checked=True,
            ), codes


class _ChunkedReader:
    """Serves regions of one sequence from large canonicalised chunks, and the IUPAC codes read as N there.

    One read and one uppercase/alphabet pass per chunk instead of per
    (overlapping) window; memory is one chunk.
    """

    CHUNK_BP = 1 << 20

    def __init__(self, read: Callable[[int, int], str], length: int,
                 canonical: Callable[[str, int, int], tuple[str, list[int], list[str]]],
                 chunk_bp: int = CHUNK_BP) -> None:
        self.read, self.length, self.canonical, self.chunk_bp = read, length, canonical, chunk_bp
        self.lo = self.hi = 0
        self.chunk = ""
        self.masked_at: list[int] = []
        self.masked_codes: list[str] = []

    def __call__(self, lo: int, hi: int) -> str:
        if lo < self.lo or hi > self.hi:
            self.lo, self.hi = lo, min(self.length, max(hi, lo + self.chunk_bp))
            self.chunk, at, self.masked_codes = self.canonical(self.read(self.lo, self.hi), self.lo, self.hi)
            self.masked_at = [self.lo + offset for offset in at]
        return self.chunk[lo - self.lo : hi - self.lo]

    def codes(self, lo: int, hi: int) -> Mapping[str, int]:
        """The IUPAC codes read as N in ``[lo, hi)``, which the last region served covers, by code."""
        if not self.masked_at:
            return NO_CODES
        a = bisect.bisect_left(self.masked_at, lo)
        return Counter(self.masked_codes[a : bisect.bisect_left(self.masked_at, hi, a)])


def _require_file(path: str, key: str, url_ok: bool = False) -> str:
    path = os.fspath(path)
    if not (exists(path) if url_ok else os.path.isfile(path)):
        raise InputError(f"{key}: file not found: {path}")
    return path


@dataclass
class ReferenceWindows(Tiling):
    """Placed windows tiled along the sequences of an indexed FASTA.

    ``contigs`` says which: ``primary`` (the default) the assembled
    chromosomes (1-22, X, Y, in any naming: ``chr1``, ``1`` or RefSeq's
    ``NC_000001.11``; no mitochondrion), ``all`` every sequence, or a list of
    names in any convention. The others are counted by kind (alt, random,
    unplaced, decoy, HLA, EBV, ...: `sequence_kind`).
    Sequences are tiled in file order; the FASTA's own names are the ones
    every output uses.
    """

    fasta: str = ""
    """The indexed FASTA (`.fai` beside it; bgzipped with `.gzi`, or a URL) whose sequences are tiled."""
    contigs: str | Sequence[str] = "primary"
    """`primary` (1-22, X, Y in any naming), `all`, or a list of sequence names in any naming."""

    input_fields: ClassVar[tuple[str, ...]] = ("fasta",)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.fasta = _require_file(self.fasta, "paths.reference", url_ok=True)
        try:
            with pysam.FastaFile(self.fasta) as fa:
                lengths = dict(zip(fa.references, fa.lengths))
        except (OSError, ValueError) as exc:
            raise InputError(f"paths.reference: cannot read FASTA {self.fasta}: {exc}") from exc
        self.sequence_names = ContigNames(lengths)
        if self.contigs == "all":
            names = list(lengths)
        elif self.contigs == "primary":
            names = [name for name in lengths if sequence_kind(name) == "chromosome"]
            if not names:
                raise InputError(
                    f"windows.contigs=primary: no sequence of {self.fasta} is named as an assembled chromosome "
                    f"(1-22, X, Y, with or without chr; it has {self.sequence_names.preview(4)}); "
                    "set windows.contigs=all or list the sequences to tile"
                )
        elif isinstance(self.contigs, str) or not isinstance(self.contigs, Sequence):
            raise ConfigError(f"windows.contigs={self.contigs!r}: allowed values are primary, all or a list of names")
        else:
            found = {str(c): self.sequence_names.find(str(c)) for c in self.contigs}
            missing = [c for c, name in found.items() if name is None]
            if missing:
                raise InputError(f"windows.contigs: {', '.join(missing)} not in {self.fasta} "
                                 f"(it has {self.sequence_names.preview(8)})")
            names = list(dict.fromkeys(found.values()))
        self.lengths = {c: lengths[c] for c in names}
        self._left_out = count_kinds(name for name in lengths if name not in self.lengths)

    def sequences(self) -> dict:
        return {"tiled": len(self.lengths), "left_out": self._left_out}

    def audit_spec(self) -> dict:
        return {"kind": "reference", "fasta": self.fasta, "window_bp": self.window_bp, "flank_bp": self.flank_bp,
                "non_acgtn": self.non_acgtn}

    def _tiles(self) -> Iterator[tuple[str, int, int, range]]:
        first = 0
        for name, length in self.lengths.items():
            starts = tile_starts(length, self.window_bp, self.stride_bp, self.margin_bp)
            yield name, length, first, starts
            first += len(starts)

    def iter_plan(self, start: int = 0, stop: int | None = None) -> Iterator[Planned]:
        """``(plan index, window or None if mostly N, codes read as N)`` for plan indices in ``[start, stop)``."""
        # Opened here, not in __init__, so the object pickles into worker processes.
        with pysam.FastaFile(self.fasta) as fa:
            readers: dict[str, _ChunkedReader] = {}
            for chrom, length, first, starts in self._tiles():
                a = max(start - first, 0)
                b = len(starts) if stop is None else min(stop - first, len(starts))
                if a >= b:
                    continue
                if chrom not in readers:
                    # No more than the windows asked for: one window (window_at) reads one window.
                    span = starts[b - 1] - starts[a] + self.window_bp + 2 * self.flank_bp
                    readers = {chrom: _ChunkedReader(
                        lambda lo, hi, c=chrom: fa.fetch(c, lo, hi), length,
                        lambda bases, lo, hi, c=chrom: self._canonical(bases, f"{self.fasta} {c}:{lo}-{hi}"),
                        min(_ChunkedReader.CHUNK_BP, span),
                    )}
                yield from self._windows_of(chrom, chrom, length, readers[chrom], first + a, starts[a:b], starts.start,
                                            self.source)


@dataclass
class RegionWindows(ReferenceWindows):
    """Placed windows tiled only inside the intervals of a BED file (e.g. promoters).

    Overlapping or touching intervals are merged; each merged interval is
    tiled like a chromosome of its own (``margin_bp`` clear of its ends,
    every window wholly inside it), in FASTA order and by start. An
    interval shorter than ``window_bp + 2 * margin_bp`` gives no window.
    The BED's intervals are tiled on whatever sequence they name
    (``contigs`` ``all``), unless a list of contigs narrows them.
    """

    regions: str = ""
    """A BED file (0-based half-open) of the intervals to tile."""
    margin_bp: int = 0
    """Bases kept clear of each merged interval's ends."""
    contigs: str | Sequence[str] = "all"
    """`all` (every sequence the BED names) or a list of sequence names that narrows it."""

    input_fields: ClassVar[tuple[str, ...]] = ("fasta", "regions")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.regions = _require_file(self.regions, "paths.regions")
        merged: dict[str, list[list[int]]] = {c: [] for c in self.lengths}
        for iv in sorted(read_bed(self.regions, "paths.regions"), key=lambda iv: (iv.start_bp, iv.end_bp)):
            chrom, lo, hi = self.sequence_names.find(iv.chrom), iv.start_bp, iv.end_bp
            if chrom is None:
                raise InputError(f"{self.regions}: contig {iv.chrom!r} is not in the reference "
                                 f"({self.sequence_names.preview()})")
            if chrom not in merged:
                continue  # a contig outside windows.contigs
            if hi > self.lengths[chrom]:
                raise InputError(f"{self.regions}: interval {chrom}:{lo}-{hi} ends past {chrom} "
                                 f"({self.lengths[chrom]} bp); fix the BED or the reference")
            spans = merged[chrom]
            if spans and lo <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], hi)
            else:
                spans.append([lo, hi])
        self.spans = {c: [tuple(s) for s in spans] for c, spans in merged.items()}

    def audit_spec(self) -> dict:
        return {**super().audit_spec(), "regions": self.regions}

    def sequences(self) -> dict:
        return {"tiled": sum(1 for spans in self.spans.values() if spans), "left_out": self._left_out}

    def _tiles(self) -> Iterator[tuple[str, int, int, range]]:
        first = 0
        for chrom, spans in self.spans.items():
            for lo, hi in spans:
                inner = tile_starts(hi - lo, self.window_bp, self.stride_bp, self.margin_bp)
                starts = range(inner.start + lo, inner.stop + lo, inner.step)
                yield chrom, self.lengths[chrom], first, starts
                first += len(starts)


@dataclass
class CorpusWindows(Tiling):
    """Unplaced windows from the records of a FASTA/FASTQ corpus (optionally gzipped).

    Each window's ``source`` label is ``source``, unless ``source_tag`` is set
    and the record's header comment carries ``<source_tag>=<label>``
    (e.g. ``>rec_7 source=phage``).
    """

    path: str = ""
    """The corpus: FASTA or FASTQ, optionally gzipped."""
    margin_bp: int = 0
    """Bases kept clear of each record's ends."""
    source: str = "corpus"
    """The `source` label of windows whose header names none."""
    source_tag: str | None = None
    """A header-comment key (`source_tag=label`) whose value labels the record's windows; null: every window is
    labelled `source`."""

    placed = False
    input_fields: ClassVar[tuple[str, ...]] = ("path",)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.path = _require_file(self.path, "paths.corpus")
        self._record_lengths: list[tuple[str, int]] | None = None
        self._scan_state: list | None = None

    def audit_spec(self) -> dict:
        return {"kind": "corpus", "path": self.path, "window_bp": self.window_bp, "flank_bp": self.flank_bp,
                "non_acgtn": self.non_acgtn}

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

    def _tiles(self) -> Iterator[tuple[str, int, int, range]]:
        # One pass over the corpus, once, gives the plan every worker and shard shares.
        if self._record_lengths is None:
            self._record_lengths = [(rec.name, len(rec.sequence or "")) for rec in self._records()]
        first = 0
        for name, length in self._record_lengths:
            starts = tile_starts(length, self.window_bp, self.stride_bp, self.margin_bp)
            yield name, length, first, starts
            first += len(starts)

    def _label(self, comment: str | None) -> str:
        if self.source_tag and comment:
            prefix = self.source_tag + "="
            for token in comment.split():
                if token.startswith(prefix) and len(token) > len(prefix):
                    return token[len(prefix):]
        return self.source

    def iter_plan(self, start: int = 0, stop: int | None = None) -> Iterator[Planned]:
        """``(plan index, window or None if mostly N, codes read as N)`` for plan indices in ``[start, stop)``."""
        for first, n, rec in self._scan(start):
            if stop is not None and first >= stop:
                return
            length = len(rec.sequence or "")
            a = max(start - first, 0)
            b = n if stop is None else min(stop - first, n)
            reader = _ChunkedReader(lambda lo, hi, s=rec.sequence or "": s[lo:hi], length,
                                    lambda bases, lo, hi, r=rec.name: self._canonical(bases, f"{self.path} {r}"),
                                    max(length, 1))
            starts = tile_starts(length, self.window_bp, self.stride_bp, self.margin_bp)
            yield from self._windows_of(
                rec.name, None, length, reader, first + a, starts[a:b], starts.start, self._label(rec.comment),
            )
            if stop is not None and first + n >= stop:
                return  # without reading the next record, so the next block resumes here


class WindowList:
    """The seed's window sources as a plan: an iterable of `WindowContext` (or a callable returning one).

    The windows are read once, when the dataset is made; plan index ``i`` is
    the ``i``-th window. They have no files the build could hash: for tests
    and notebooks.
    """

    margin_bp = 0
    flank_bp = None  # each window carries its own flanks (or none: targets are then N-padded)

    def __init__(self, windows: Iterable[WindowContext] | Callable[[], Iterable[WindowContext]]) -> None:
        items = list(windows() if callable(windows) else windows)
        for i, window in enumerate(items):
            if not isinstance(window, WindowContext):
                raise ContractError(f"windows[{i}]={window!r}: not a WindowContext")
        # Plan indices are positions in the list, so every window gets its own.
        self.windows = [w if w.window_index == i else replace(w, window_index=i) for i, w in enumerate(items)]
        self.placed = any(w.placed for w in self.windows)
        self.sequence_names = ContigNames(dict.fromkeys(w.chrom for w in self.windows if w.chrom))
        lengths = {len(w.sequence) for w in self.windows}
        self.window_bp = max(lengths, default=0)

    def inputs(self) -> tuple[str, ...]:
        return ()

    def identity(self) -> str:
        return digest([[w.record_id, w.chrom, w.start_bp, w.window_id] for w in self.windows])

    def audit_spec(self) -> dict:
        return {"kind": "in_memory"}

    def sequences(self) -> dict:
        return {"tiled": len(self.records()), "left_out": {}}

    def plan_size(self) -> int:
        return len(self.windows)

    def records(self) -> list[str]:
        return list(dict.fromkeys(w.record_id for w in self.windows))

    def locate(self, index: int) -> tuple[str, int]:
        window = self.windows[index]
        return window.chrom or window.record_id, window.start_bp

    def window_at(self, index: int) -> WindowContext | None:
        return self.windows[index]

    def iter_plan(self, start: int = 0, stop: int | None = None) -> Iterator[Planned]:
        for index in range(start, len(self.windows) if stop is None else min(stop, len(self.windows))):
            yield index, self.windows[index], NO_CODES

    def iter_windows(self, start: int = 0, stop: int | None = None) -> Iterator[WindowContext]:
        return (w for _, w, _ in self.iter_plan(start, stop))


def as_window_source(windows) -> WindowSource:
    """A window plan, or the seed's iterable (or callable) of windows as one; anything else is an error."""
    if isinstance(windows, WindowSource):
        return windows
    if isinstance(windows, (str, bytes)) or not (callable(windows) or isinstance(windows, Iterable)):
        raise ContractError(
            f"windows={windows!r}: give a window source (ReferenceWindows, CorpusWindows, RegionWindows), "
            "an iterable of WindowContext, or a callable returning one"
        )
    return WindowList(windows)
