"""Edit providers: where a window's edits come from.

A provider is called as ``provider(window, rng, count, edge_margin=..., excluded=...)``
and returns at most ``count`` distinct edits lying wholly inside the edge
margins, none for which ``excluded(edit)`` is true. Returning fewer than
``count`` means the source has run dry for this window; the builder then
uses the configured fallback. Synthetic providers draw only from ``rng``;
VCF providers query the tabix index for the window's region only.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from random import Random
from typing import Callable, Protocol, Sequence

import pysam

from .contigs import ContigNames
from .edits import MAX_ALLELE_BP, RelEdit, is_acgt
from .errors import ConfigError, InputError
from .windows import WindowContext

Excluded = Callable[[RelEdit], bool]
BASES = "ACGT"
_OTHER_BASES = {b: tuple(x for x in BASES if x != b) for b in BASES}
REF_MISMATCH_POLICIES = ("skip", "error")


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


@dataclass
class VariantProvider:
    """Variants from a bgzipped, tabix-indexed VCF, decomposed per ALT allele.

    Selection: PASS (or unfiltered ``.``) records when ``pass_only``; ACGT
    alleles of at most ``max_allele_len`` bases; INFO ``af_field`` >=
    ``min_af`` when ``min_af`` is set; any INFO ``CLNSIG`` term in
    ``clnsig`` when ``clnsig`` is set. A REF that disagrees with the window is
    counted and skipped (``ref_mismatch: skip``) or fatal (``error``).
    Skipped alleles are counted once per record and reason in ``skipped``.
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

    def __post_init__(self) -> None:
        key = f"providers.{self.name}.path"
        self.path = os.fspath(self.path)
        if self.ref_mismatch not in REF_MISMATCH_POLICIES:
            raise ConfigError(
                f"providers.{self.name}.ref_mismatch={self.ref_mismatch!r}: allowed values are "
                f"{', '.join(REF_MISMATCH_POLICIES)}"
            )
        if not 1 <= self.max_allele_len <= MAX_ALLELE_BP:
            raise ConfigError(
                f"providers.{self.name}.max_allele_len={self.max_allele_len}: must be in [1, {MAX_ALLELE_BP}]"
            )
        self.contigs = ContigNames(open_indexed_vcf_check(self.path, key))
        with pysam.VariantFile(self.path) as vf:
            info = vf.header.info
            if self.min_af is not None and self.af_field not in info:
                raise ConfigError(
                    f"providers.{self.name}.af_field={self.af_field!r}: INFO field not declared in {self.path} "
                    f"(declared: {', '.join(list(info)[:12])})"
                )
            if self.clnsig is not None and "CLNSIG" not in info:
                raise ConfigError(f"providers.{self.name}.clnsig: INFO CLNSIG not declared in {self.path}")
        self._clnsig = frozenset(self.clnsig) if self.clnsig is not None else None
        self._vf: pysam.VariantFile | None = None
        self._vf_pid = 0
        self._counted_upto: dict[str, int] = {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_vf"] = None
        return state

    def _reason(self, rec: pysam.VariantRecord, index: int, alt: str | None) -> str | None:
        """Why allele ``index`` of ``rec`` is unusable, or None if it is usable."""
        if alt is None or alt.startswith("<") or "[" in alt or "]" in alt:
            return "symbolic"
        if alt == "*":
            return "spanning_deletion"
        ref, alt = rec.ref.upper(), alt.upper()
        if not (is_acgt(ref) and is_acgt(alt)):
            return "non_acgt"
        if len(ref) > self.max_allele_len or len(alt) > self.max_allele_len:
            return "too_long"
        if ref == alt:
            return "ref_equals_alt"
        if self.min_af is not None:
            try:
                value = rec.info[self.af_field]
            except KeyError:
                return "af_missing"
            if isinstance(value, tuple):
                value = value[index] if index < len(value) else None
            if value is None:
                return "af_missing"
            if value < self.min_af:
                return "af_below_min"
        if self._clnsig is not None:
            raw = rec.info.get("CLNSIG")
            terms = {t for v in (raw if isinstance(raw, tuple) else (raw,)) if v for t in str(v).split("|")}
            if not terms & self._clnsig:
                return "clnsig_not_selected"
        return None

    def __call__(
        self, window: WindowContext, rng: Random, count: int, *, edge_margin: int, excluded: Excluded = _never
    ) -> list[RelEdit]:
        file_chrom = None if window.chrom is None else self.contigs.find(window.chrom)
        if file_chrom is None:
            return []
        if self._vf is None or self._vf_pid != os.getpid():
            # A handle inherited through fork shares its file offset with the parent: reopen.
            self._vf = pysam.VariantFile(self.path)
            self._vf_pid = os.getpid()
        seq = window.sequence
        lo = window.start_bp + edge_margin
        hi = window.end_bp - edge_margin
        counted_upto = self._counted_upto.get(window.chrom, -1)
        eligible: dict[RelEdit, None] = {}
        for rec in self._vf.fetch(file_chrom, lo, hi):
            # Overlapping windows see a record more than once; count its skips once.
            count_it = rec.start > counted_upto
            if count_it:
                self._counted_upto[window.chrom] = rec.start
            if self.pass_only and any(f != "PASS" for f in rec.filter.keys()):
                if count_it:
                    self.skipped["not_pass"] += len(rec.alts or (None,))
                continue
            for index, alt in enumerate(rec.alts or (None,)):
                reason = self._reason(rec, index, alt)
                if reason is None and (rec.start < lo or rec.start + len(rec.ref) > hi):
                    continue  # not wholly inside this window's margins
                if reason is None:
                    rel = rec.start - window.start_bp
                    ref = rec.ref.upper()
                    if seq[rel : rel + len(ref)] != ref:
                        if self.ref_mismatch == "error":
                            raise InputError(
                                f"{self.path}: record {rec.chrom}:{rec.pos}:{rec.ref}:{alt} REF does not match "
                                f"the reference ({seq[rel:rel + len(ref)]!r}); fix the VCF or set "
                                f"providers.{self.name}.ref_mismatch=skip"
                            )
                        reason = "ref_mismatch"
                if reason is not None:
                    if count_it:
                        self.skipped[reason] += 1
                    continue
                edit = RelEdit(rel, ref, alt.upper())
                if excluded(edit):
                    if count_it:
                        self.skipped["held_out"] += 1
                    continue
                eligible[edit] = None
        pool = list(eligible)
        return pool if len(pool) <= count else rng.sample(pool, count)


def variant_provider(path: str, **filters) -> VariantProvider:
    """A provider backed by VCF variants; see :class:`VariantProvider` for the filters."""
    return VariantProvider(path, **filters)
