"""Edit providers: where a window's edits come from.

A provider is called as ``provider(window, rng, count, edge_margin=..., excluded=...)``
and returns at most ``count`` distinct edits lying wholly inside the edge
margins, none for which ``excluded(edit)`` is true. Returning fewer than
``count`` means the source has run dry for this window; the builder then
uses the configured fallback. Synthetic providers draw only from ``rng``;
VCF providers query the tabix index for the window's region only.
"""

from __future__ import annotations

import bisect
import os
from collections import Counter
from dataclasses import dataclass, field
from operator import itemgetter
from random import Random
from typing import Callable, Iterator, Protocol, Sequence

import pysam

from .contigs import ContigNames
from .edits import MAX_ALLELE_BP, RelEdit, is_acgt
from .errors import ConfigError, InputError
from .windows import WindowContext

Excluded = Callable[[RelEdit], bool]
BASES = "ACGT"
_OTHER_BASES = {b: tuple(x for x in BASES if x != b) for b in BASES}
REF_MISMATCH_POLICIES = ("skip", "error")
REF_UNCHECKED, REF_OK, REF_BAD = 0, 1, 2
# Past a gap this long between windows, seek instead of reading through it.
READ_THROUGH_BP = 1_000_000


class EditProvider(Protocol):
    placed: bool

    def __call__(
        self, window: WindowContext, rng: Random, count: int, *, edge_margin: int, excluded: Excluded
    ) -> list[RelEdit]: ...


def _never(_: RelEdit) -> bool:
    return False


def _draw_unique(draw: Callable[[], RelEdit | None], count: int, excluded: Excluded) -> list[RelEdit]:
    """Call ``draw`` until ``count`` distinct, non-excluded edits are found.

    The attempt bound keeps a degenerate window (almost all N) from spinning;
    such a window yields fewer edits and the builder reports the shortfall.
    """
    out: list[RelEdit] = []
    seen: set[RelEdit] = set()
    for _ in range(100 * count + 100):
        if len(out) == count:
            break
        edit = draw()
        if edit is None or edit in seen or excluded(edit):
            continue
        seen.add(edit)
        out.append(edit)
    return out


@dataclass(frozen=True)
class SyntheticSnv:
    """Uniform SNVs: a uniform position at an ACGT base inside the margins, a uniform other base."""

    placed: bool = field(default=False, init=False)

    def __call__(
        self, window: WindowContext, rng: Random, count: int, *, edge_margin: int, excluded: Excluded = _never
    ) -> list[RelEdit]:
        seq = window.sequence
        lo, hi = edge_margin, len(seq) - edge_margin
        if hi <= lo or seq.count("N", lo, hi) == hi - lo:
            return []

        def draw() -> RelEdit | None:
            pos = rng.randrange(lo, hi)
            base = seq[pos]
            if base == "N":
                return None
            return RelEdit(pos, base, rng.choice(_OTHER_BASES[base]))

        return _draw_unique(draw, count, excluded)


@dataclass(frozen=True)
class SyntheticIndel:
    """Insertions or deletions with a truncated-geometric event length.

    ``insertion_fraction`` of events are insertions; the event length is
    geometric with success probability ``p`` truncated to
    [1, ``max_event_bp``]. Alleles are VCF-style, anchored on the base before
    the event, so ``max_event_bp`` 15 keeps ref and alt within 16 bases.
    Inserted bases are uniform; a deletion never spans an N.
    """

    p: float = 0.5
    max_event_bp: int = 15
    insertion_fraction: float = 0.5
    placed: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.p <= 1.0:
            raise ConfigError(f"providers.synthetic_indel.p={self.p}: must be in (0, 1]")
        if not 1 <= self.max_event_bp <= MAX_ALLELE_BP - 1:
            raise ConfigError(
                f"providers.synthetic_indel.max_event_bp={self.max_event_bp}: must be in [1, {MAX_ALLELE_BP - 1}]"
            )
        if not 0.0 <= self.insertion_fraction <= 1.0:
            raise ConfigError(
                f"providers.synthetic_indel.insertion_fraction={self.insertion_fraction}: must be in [0, 1]"
            )

    def event_length(self, rng: Random) -> int:
        while True:
            k = 1
            while rng.random() >= self.p:
                k += 1
                if k > self.max_event_bp:
                    break
            if k <= self.max_event_bp:
                return k

    def __call__(
        self, window: WindowContext, rng: Random, count: int, *, edge_margin: int, excluded: Excluded = _never
    ) -> list[RelEdit]:
        seq = window.sequence
        lo, hi = edge_margin, len(seq) - edge_margin
        if hi - lo < self.max_event_bp + 1 or seq.count("N", lo, hi) == hi - lo:
            return []

        def draw() -> RelEdit | None:
            k = self.event_length(rng)
            if rng.random() < self.insertion_fraction:
                pos = rng.randrange(lo, hi)
                anchor = seq[pos]
                if anchor == "N":
                    return None
                return RelEdit(pos, anchor, anchor + "".join(rng.choice(BASES) for _ in range(k)))
            pos = rng.randrange(lo, hi - k)
            ref = seq[pos : pos + k + 1]
            if "N" in ref:
                return None
            return RelEdit(pos, ref, ref[0])

        return _draw_unique(draw, count, excluded)


synthetic_snv_provider = SyntheticSnv()
synthetic_indel_provider = SyntheticIndel()


def _is_bgzf(path: str) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(16)
    # gzip magic, FEXTRA flag and the BGZF "BC" subfield mark a blocked gzip.
    return len(head) >= 14 and head[:2] == b"\x1f\x8b" and head[3] & 4 and head[12:14] == b"BC"


def open_indexed_vcf_check(path: str, key: str) -> list[str]:
    """Check that ``path`` is a bgzipped VCF with a tabix/CSI index; return its indexed contigs."""
    if not os.path.isfile(path):
        raise InputError(f"{key}: file not found: {path}")
    if not _is_bgzf(path):
        raise InputError(f"{key}: {path} is not bgzip-compressed; run `bgzip {path}` and `tabix -p vcf {path}.gz`")
    if not (os.path.isfile(path + ".tbi") or os.path.isfile(path + ".csi")):
        raise InputError(f"{key}: {path} has no .tbi or .csi index; run `tabix -p vcf {path}`")
    try:
        with pysam.TabixFile(path) as tbx:
            return list(tbx.contigs)
    except (OSError, ValueError) as exc:
        raise InputError(f"{key}: cannot read tabix index of {path}: {exc}") from exc


@dataclass(frozen=True)
class AlleleFilter:
    """Which VCF alleles a variant source may use, and why the others are skipped.

    PASS (or unfiltered ``.``) records when ``pass_only``; ACGT alleles of at
    most ``max_allele_len`` bases; INFO ``af_field`` >= ``min_af`` when
    ``min_af`` is set; any ``|``-separated INFO ``CLNSIG`` term in ``clnsig``
    when ``clnsig`` is set.
    """

    af_field: str = "AF"
    min_af: float | None = None
    clnsig: frozenset[str] | None = None
    pass_only: bool = True
    max_allele_len: int = MAX_ALLELE_BP

    def __post_init__(self) -> None:
        if self.clnsig is not None:
            object.__setattr__(self, "clnsig", frozenset(self.clnsig))

    def check_header(self, header: pysam.VariantHeader, path: str, key: str) -> None:
        info = header.info
        if self.min_af is not None and self.af_field not in info:
            raise ConfigError(
                f"{key}.af_field={self.af_field!r}: INFO field not declared in {path} "
                f"(declared: {', '.join(list(info)[:12])})"
            )
        if self.clnsig is not None and "CLNSIG" not in info:
            raise ConfigError(f"{key}.clnsig: INFO CLNSIG not declared in {path}")

    def alleles(self, rec: pysam.VariantRecord) -> list[tuple[str, str | None, str | None]]:
        """``(ref, alt, reason)`` per ALT allele; ``reason`` None means usable."""
        alleles = rec.alleles  # one call for REF and ALTs: the cheapest pysam accessor
        ref = alleles[0].upper()
        alts = alleles[1:] or (None,)
        if self.pass_only:
            filters = rec.filter.keys()
            if filters and filters != ["PASS"]:
                return [(ref, alt, "not_pass") for alt in alts]
        # Reasons that hold for the whole record, checked once.
        record_reason = None
        if not is_acgt(ref):
            record_reason = "non_acgt"
        elif len(ref) > self.max_allele_len:
            record_reason = "too_long"
        af = None
        if self.min_af is not None:
            af = rec.info.get(self.af_field)
            af = af if isinstance(af, tuple) else (af,)
        clnsig_ok = True
        if self.clnsig is not None:
            raw = rec.info.get("CLNSIG")
            terms = {t for v in (raw if isinstance(raw, tuple) else (raw,)) if v for t in str(v).split("|")}
            clnsig_ok = bool(terms & self.clnsig)
        out = []
        for index, alt in enumerate(alts):
            if alt is None or alt[0] == "<" or "[" in alt or "]" in alt:
                reason = "symbolic"
            elif alt == "*":
                reason = "spanning_deletion"
            elif record_reason is not None:
                reason = record_reason
            else:
                alt = alt.upper()
                reason = None
                if not is_acgt(alt):
                    reason = "non_acgt"
                elif len(alt) > self.max_allele_len:
                    reason = "too_long"
                elif ref == alt:
                    reason = "ref_equals_alt"
                elif af is not None:
                    value = af[index] if index < len(af) else None
                    if value is None:
                        reason = "af_missing"
                    elif value < self.min_af:
                        reason = "af_below_min"
                if reason is None and not clnsig_ok:
                    reason = "clnsig_not_selected"
            out.append((ref, alt, reason))
        return out


@dataclass
class VariantProvider:
    """Variants from a bgzipped, tabix-indexed VCF, decomposed per ALT allele.

    Alleles are selected by an :class:`AlleleFilter` built from the filter
    arguments. A REF that disagrees with the reference is counted and
    skipped (``ref_mismatch: skip``) or fatal (``error``). ``skipped``
    counts skipped alleles by reason, once each, for the records that start
    inside a window the provider served.

    Windows arrive in order along each chromosome and overlap, so records are
    read once into a cache that slides with the windows; a window's eligible
    pool is kept for repeated calls on that window.
    """

    path: str
    name: str = "variants"
    af_field: str = "AF"
    min_af: float | None = None
    clnsig: Sequence[str] | None = None
    pass_only: bool = True
    max_allele_len: int = MAX_ALLELE_BP
    ref_mismatch: str = "skip"
    placed: bool = field(default=True, init=False)
    skipped: Counter = field(default_factory=Counter, init=False)
    # (reference contig, position): a block of a run that starts mid-chromosome
    # leaves records before this to the block before it (see TupleBuilder.run_block).
    count_floor: tuple[str, int] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        key = f"providers.{self.name}"
        self.path = os.fspath(self.path)
        if self.ref_mismatch not in REF_MISMATCH_POLICIES:
            raise ConfigError(
                f"{key}.ref_mismatch={self.ref_mismatch!r}: allowed values are {', '.join(REF_MISMATCH_POLICIES)}"
            )
        if not 1 <= self.max_allele_len <= MAX_ALLELE_BP:
            raise ConfigError(f"{key}.max_allele_len={self.max_allele_len}: must be in [1, {MAX_ALLELE_BP}]")
        self.filter = AlleleFilter(
            af_field=self.af_field, min_af=self.min_af, clnsig=self.clnsig, pass_only=self.pass_only,
            max_allele_len=self.max_allele_len,
        )
        self.contigs = ContigNames(open_indexed_vcf_check(self.path, f"{key}.path"))
        with pysam.VariantFile(self.path) as vf:
            self.filter.check_header(vf.header, self.path, key)
        self._vf: pysam.VariantFile | None = None
        self._vf_pid = 0
        self._reset(None, 0)

    def _reset(self, chrom: str | None, start: int) -> None:
        # The cache holds every usable allele starting in [_from, _to) on _chrom, in
        # file order, as [start, ref, alt, ref_state] (REF_UNCHECKED/REF_OK/REF_BAD).
        # _records reads on from _to to the chromosome end, so each BGZF block is
        # decompressed once per pass; _ahead holds the record read past _to.
        self._chrom, self._from, self._to = chrom, start, start
        self._cache: list[list] = []
        self._records = None
        self._ahead: tuple[int, list, list] | None = None
        self._pool_key: tuple | None = None
        self._pool: list[tuple[int, str, str]] = []

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        # Handles never travel; a copy starts reading afresh at its first window.
        state.update(_vf=None, _records=None, _ahead=None, _chrom=None)
        return state

    def _read(self, file_chrom: str, start: int) -> Iterator[tuple[int, list, list]]:
        """``(start, usable alleles, skip reasons)`` per record starting at or after ``start``."""
        if self._vf is None or self._vf_pid != os.getpid():
            # A handle inherited through fork shares its file offset with the parent: reopen.
            self._vf = pysam.VariantFile(self.path)
            self._vf_pid = os.getpid()
        alleles = self.filter.alleles
        for rec in self._vf.fetch(file_chrom, start):
            pos = rec.start
            if pos < start:
                continue  # overlaps the start but begins before it
            usable, reasons = [], []
            for ref, alt, reason in alleles(rec):
                if reason is None:
                    usable.append([pos, ref, alt, REF_UNCHECKED])
                else:
                    reasons.append(reason)
            yield pos, usable, reasons

    def _slide(self, file_chrom: str, lo: int, hi: int, count_from: int) -> None:
        """Make the cache hold every usable allele starting in ``[lo, hi)``.

        Skipped alleles are counted as their record enters, if it starts at
        or after ``count_from``: inside the window, and past what an earlier
        block of the same run counted.
        """
        if file_chrom != self._chrom or not self._from <= lo <= self._to + READ_THROUGH_BP \
                or self._vf_pid != os.getpid():
            self._reset(file_chrom, lo)
            self._records = self._read(file_chrom, lo)
        if hi > self._to:
            cache, records, ahead, skipped = self._cache, self._records, self._ahead, self.skipped
            while True:
                if ahead is None:
                    ahead = next(records, None)
                    if ahead is None:
                        break
                pos, usable, reasons = ahead
                if pos >= hi:
                    break
                cache.extend(usable)
                if reasons and pos >= count_from:
                    for reason in reasons:
                        skipped[reason] += 1
                ahead = None
            self._ahead, self._to = ahead, hi
        del self._cache[: bisect.bisect_left(self._cache, lo, key=itemgetter(0))]
        self._from = lo

    def _eligible(self, window: WindowContext, file_chrom: str, edge_margin: int) -> list[tuple[int, str, str]]:
        """Usable alleles wholly inside the window's edge margins whose REF matches the window."""
        lo, hi = window.start_bp + edge_margin, window.end_bp - edge_margin
        key = (file_chrom, window.start_bp, window.window_id, edge_margin)
        if key == self._pool_key:
            return self._pool
        floor = self.count_floor[1] if self.count_floor and self.count_floor[0] == window.chrom else -1
        self._slide(file_chrom, lo, hi, max(lo, floor))
        seq = window.sequence
        pool: dict[tuple[int, str, str], None] = {}
        for entry in self._cache:
            start, ref, alt, state = entry
            if start >= hi:
                break
            if start + len(ref) > hi or state == REF_BAD:
                continue
            rel = start - window.start_bp
            if state == REF_UNCHECKED:
                # The reference is the same in every window, so one check per allele suffices.
                if seq[rel : rel + len(ref)] != ref:
                    if self.ref_mismatch == "error":
                        raise InputError(
                            f"{self.path}: record {file_chrom}:{start + 1}:{ref}:{alt} REF does not match the "
                            f"reference ({seq[rel:rel + len(ref)]!r}); fix the VCF or set "
                            f"providers.{self.name}.ref_mismatch=skip"
                        )
                    if start + len(ref) > floor:  # not checked by an earlier block
                        self.skipped["ref_mismatch"] += 1
                    entry[3] = REF_BAD
                    continue
                entry[3] = REF_OK
            pool[(rel, ref, alt)] = None
        self._pool_key, self._pool = key, list(pool)
        return self._pool

    def __call__(
        self, window: WindowContext, rng: Random, count: int, *, edge_margin: int, excluded: Excluded = _never
    ) -> list[RelEdit]:
        file_chrom = None if window.chrom is None else self.contigs.find(window.chrom)
        if file_chrom is None:
            return []
        # A lazy Fisher-Yates shuffle: a uniform sample without replacement of the
        # non-excluded alleles, building edits only for the alleles it looks at.
        items = list(self._eligible(window, file_chrom, edge_margin))
        out: list[RelEdit] = []
        for i in range(len(items)):
            if len(out) == count:
                break
            j = rng.randrange(i, len(items))
            items[i], items[j] = items[j], items[i]
            edit = RelEdit(*items[i])
            if not excluded(edit):
                out.append(edit)
        return out


def variant_provider(path: str, **filters) -> VariantProvider:
    """A provider backed by VCF variants; see :class:`VariantProvider` for the filters."""
    return VariantProvider(path, **filters)
