"""Haplotype actions: the alleles one haplotype of one person carries together inside a window, as one tuple.

A `HaplotypeProvider` reads a store that ``genolewm-prepare
source=haplotypes`` made from a phased VCF
(`PanelStore`). Its one draw for a window
is one whole tuple:

1. the haplotype: ``k = below(stream, 2 * samples)`` over the chosen samples
   in their configured order (all of the store's, in VCF order, by default);
   sample ``k // 2``, haplotype ``k % 2`` (0 the first allele of ``a|b``, 1
   the second). The stream is the mix slot's (see `genolewm.builder`);
2. the alleles it carries that start inside the window's edge margins, in
   VCF order, keeping those the source's allele filter accepts, that end by
   the margin and whose REF matches the reference (the same rules and skip
   counts as any VCF source: the store's sites file is read by
   `VariantProvider`);
3. held-out variant keys left out;
4. an allele overlapping one kept before it on the same haplotype (two
   records whose REF spans meet) is left out and counted
   (``overlaps_on_haplotype``): the first by position wins;
5. the first ``max_edits`` by position are the tuple; the rest are counted
   (``past_max_edits``).

Steps 4 and 5 count per tuple drawn. A haplotype with no allele left is a
shortfall, which the slot's fallback serves like any other. Calls the store
did not use (unphased, missing, ...) are counted once per run for the
records inside the windows served, as ``gt_<reason>``.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from random import Random
from typing import Sequence

import numpy as np

from ..errors import ConfigError
from ..streams import below
from ..types import MAX_ALLELE_BP, NOTHING_COUNTED, NOTHING_SKIPPED, Draw, Excluded, Tally, WindowContext, digest
from .alleles import REF_OK, Pool, Rows, _in_intervals, uncounted
from .base import never
from .genotypes import GT_REASONS
from .panel import PanelStore
from .vcf import READ_THROUGH_BP, VariantProvider

DEFAULT_MAX_EDITS = 32


def read_samples(samples, key: str) -> list[str] | None:
    """``samples`` as a list of names: a list as given, a path to a file of one name a line (``#`` starts a
    comment), or None (every sample)."""
    if samples is None:
        return None
    if isinstance(samples, (str, os.PathLike)):
        try:
            text = open(samples, encoding="utf-8").read()
        except OSError as exc:
            raise ConfigError(f"{key}={samples}: cannot read the sample file ({exc.strerror})") from exc
        names = [line.split("#", 1)[0].strip() for line in text.splitlines()]
        return [n for n in names if n]
    return [str(n) for n in samples]


@dataclass
class HaplotypeProvider:
    """Whole tuples of haplotype alleles from a panel store (see `genolewm.providers.haplotypes`).

    ``samples``: the samples drawn from (a list, a file of names, or None for
    all); ``max_edits``: the most edits a tuple holds; the allele filter
    settings and ``ref_mismatch`` are `VariantProvider`'s.
    """

    path: str
    """The panel store `genolewm-prepare source=haplotypes` made from a phased VCF."""
    name: str = "haplotypes"
    """The source name: what `mix.counts`, `fallback` and the manifest call it."""
    samples: Sequence[str] | str | None = None
    """The samples drawn from: a list of names, a file of names (one per line), or null for every sample."""
    max_edits: int = DEFAULT_MAX_EDITS
    """The most edits one haplotype tuple holds; the first by position are kept."""
    af_field: str = "AF"
    """As `VariantProvider.af_field`."""
    min_af: float | None = None
    """As `VariantProvider.min_af`."""
    pass_only: bool = True
    """As `VariantProvider.pass_only`."""
    max_allele_len: int = MAX_ALLELE_BP
    """As `VariantProvider.max_allele_len`."""
    edit_types: Sequence[str] | None = None
    """As `VariantProvider.edit_types`."""
    ref_mismatch: str = "skip"
    """As `VariantProvider.ref_mismatch`."""

    placed = True

    def __post_init__(self) -> None:
        key = f"providers.{self.name}"
        self.path = os.fspath(self.path)
        if not isinstance(self.max_edits, int) or isinstance(self.max_edits, bool) or self.max_edits < 1:
            raise ConfigError(f"{key}.max_edits={self.max_edits!r}: must be an integer >= 1")
        self.store = PanelStore.open(self.path, f"{key}.path")
        names = read_samples(self.samples, f"{key}.samples")
        known = {name: k for k, name in enumerate(self.store.samples)}
        if names is not None:
            missing = [n for n in names if n not in known]
            if missing or not names or len(set(names)) != len(names):
                what = (f"names samples the panel lacks: {', '.join(missing[:5])}" if missing else
                        "names a sample twice" if names else "names no sample")
                raise ConfigError(f"{key}.samples {what}; the panel has {len(known)} samples "
                                  f"({', '.join(self.store.samples[:3])}, ...)")
        self.chosen = list(self.store.samples) if names is None else names
        index = np.array([known[n] for n in self.chosen], np.int64)
        self._haplotypes = np.stack((2 * index, 2 * index + 1), axis=1).reshape(-1)
        self.sites = VariantProvider(self.store.sites, name=self.name, af_field=self.af_field, min_af=self.min_af,
                                     pass_only=self.pass_only, max_allele_len=self.max_allele_len,
                                     edit_types=self.edit_types, ref_mismatch=self.ref_mismatch)
        self.contigs = self.sites.contigs
        self.whole_tuple_edits = self.max_edits
        self._counted_to: dict[str, int] = {}
        self._rows_map: tuple | None = None
        self._last: tuple | None = None  # the window drawn last, with its alleles
        self._row_notes: dict = {}  # the notes of the rows _rows_map joins to: the same in every window

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_counted_to": {}, "_rows_map": None, "_last": None, "_row_notes": {}}

    def inputs(self) -> tuple[str, ...]:
        return self.store.files()

    def identity(self) -> str:
        return digest({"class": "HaplotypeProvider", "store": self.store.identity(), "samples": self.chosen,
                       "max_edits": self.max_edits, "sites": self.sites.identity()})

    def audit_spec(self) -> dict:
        return {"kind": "haplotypes", "vcf": self.store.vcf, "store": self.path,
                "filter": self.sites.filter.spec(), "samples": self.chosen, "max_edits": self.max_edits}

    def prepare(self, windows: Sequence[WindowContext], *, edge_margin: int,
                count_floor: tuple[str, int] | None = None) -> Tally:
        """The sites' pools of ``windows`` (`VariantProvider.prepare`), and the calls not used of the
        records inside them, past ``count_floor`` and once per run."""
        self._last = None
        tally = self.sites.prepare(windows, edge_margin=edge_margin, count_floor=count_floor)
        calls = self._count_calls(windows, edge_margin, count_floor)
        if not calls:
            return tally
        return Tally(Counter(tally.skipped) + calls, tally.classified)

    def _count_calls(self, windows: Sequence[WindowContext], edge_margin: int,
                     count_floor: tuple[str, int] | None) -> Counter:
        out: Counter = Counter()
        runs: dict[str, list[WindowContext]] = {}
        for window in windows:
            file_chrom = None if window.chrom is None else self.contigs.find(window.chrom)
            if file_chrom is not None:
                runs.setdefault(file_chrom, []).append(window)
        for file_chrom, run in runs.items():
            run.sort(key=lambda w: w.start_bp)
            los = np.array([w.start_bp + edge_margin for w in run], np.int64)
            his = np.array([w.end_bp - edge_margin for w in run], np.int64)
            chrom = run[0].chrom
            floor = count_floor[1] if count_floor and count_floor[0] == chrom else -1
            done = self._counted_to.get(file_chrom, -1)
            if los[0] > done + READ_THROUGH_BP:
                done = -1
            since, until = uncounted(los, his, floor, done)
            self._counted_to[file_chrom] = max(done, int(his.max()))
            starts, calls = self.store.dropped_on(file_chrom)
            if not len(starts) or not len(since):
                continue
            hit = _in_intervals(starts, since, until)
            for reason, n in zip(GT_REASONS, calls[hit].sum(axis=0).tolist()):
                if n:
                    out[f"gt_{reason}"] += n
        return out

    def draw_block(self, windows, keys, count: int, *, edge_margin: int, holdouts) -> list[Draw | None]:
        return [None] * len(windows)  # each tuple is drawn on its own

    def _window(self, window: WindowContext, edge_margin: int, count_floor) -> tuple["_Alleles | None", Tally]:
        """The window's eligible alleles and what making its pool counted. A slot's draws for one window come
        one after another: its alleles are kept until another window is drawn for."""
        last = self._last
        if last is not None and last[0] is window and last[1] == edge_margin:
            return last[2], NOTHING_COUNTED
        pool, tally = self.sites.pool(window, edge_margin, count_floor)
        alleles = None
        if pool is not None and pool.rows is not None:
            file_chrom = self.contigs.find(window.chrom)
            hi = window.end_bp - edge_margin
            a, b = self.store.span(file_chrom, window.start_bp + edge_margin, hi)
            rows = pool.rows
            row_of = self._rows_of(file_chrom, rows, a, b)
            safe = np.maximum(row_of, 0)
            # The pool's alleles: REF checked and matching, not a repeat, ending by the margin.
            eligible = (row_of >= 0) & (rows.state[safe] == REF_OK) & (rows.end[safe] <= hi)
            alleles = _Alleles(a, b, np.where(eligible, row_of, -1).tolist(), pool, window.start_bp)
        self._last = (window, edge_margin, alleles)
        return alleles, tally

    def _rows_of(self, file_chrom: str, rows: Rows, a: int, b: int) -> np.ndarray:
        """For the store's alleles ``[a, b)``, the row of the same allele among the sites' ``rows`` (-1: none;
        of repeated records, the first). Found for every allele the rows reach, once per ``rows``."""
        if not len(rows):
            return np.full(b - a, -1, np.int64)
        got = self._rows_map
        if got is None or got[0] is not rows or not got[1] <= a or b > got[2]:
            where = {key: r for r, key in enumerate(zip(rows.start.tolist(), rows.ref.tolist(), rows.alt.tolist()))
                     if not rows.dup[r]}
            first, stop = self.store.span(file_chrom, int(rows.start[0]), int(rows.start[-1]) + 1)
            first, stop = min(first, a), max(stop, b)
            store = self.store
            keys = zip(store.start[first:stop].tolist(), np.char.decode(store.ref[first:stop]).tolist(),
                       np.char.decode(store.alt[first:stop]).tolist())
            got = self._rows_map = (rows, first, stop, np.array([where.get(k, -1) for k in keys], np.int64))
            self._row_notes = {}
        return got[3][a - got[1] : b - got[1]]

    def draw(self, window: WindowContext, rng: Random, count: int, *, edge_margin: int,
             excluded: Excluded = never, count_floor: tuple[str, int] | None = None) -> Draw:
        """One haplotype's tuple: at most ``min(count, max_edits)`` edits (none: a shortfall)."""
        return self.draw_tuples(window, rng, 1, count, edge_margin=edge_margin, excluded=excluded,
                                count_floor=count_floor)[0]

    def draw_tuples(self, window: WindowContext, rng: Random, n: int, count: int, *, edge_margin: int,
                    excluded: Excluded = never, count_floor: tuple[str, int] | None = None) -> list[Draw]:
        """``n`` tuples, as ``n`` calls of `draw` give them (one number of ``rng`` each), found together:
        the haplotypes' alleles in the window are read in one pass over the store.

        ``excluded`` is asked once per allele and window: it may depend on the window only (the builder
        passes its held-out variant keys)."""
        picks = [int(k) for k in self._haplotypes[[below(rng, len(self._haplotypes)) for _ in range(n)]]]
        samples = self.store.samples
        carriers = [(samples[k // 2], k % 2) for k in picks]
        alleles, tally = (None, NOTHING_COUNTED) if window.chrom is None else \
            self._window(window, edge_margin, count_floor)
        if alleles is None:
            return [Draw([], tally.skipped if i == 0 else NOTHING_SKIPPED, carrier=c) for i, c in enumerate(carriers)]
        carried = self.store.carried_of(picks, alleles.first, alleles.stop)
        out = []
        for i, (numbers, carrier) in enumerate(zip(carried, carriers)):
            # What making the window's pool counted goes with its first draw.
            skipped, classified = (tally.skipped, tally.classified) if i == 0 else (NOTHING_SKIPPED, NOTHING_SKIPPED)
            out.append(self._tuple(alleles, numbers, count, excluded, carrier, skipped, classified))
        return out

    def _tuple(self, alleles: "_Alleles", numbers: list[int], count: int, excluded: Excluded, carrier,
               skipped, classified) -> Draw:
        """The tuple of one haplotype whose alleles in the window are ``numbers`` (less the window's first)."""
        row_of = alleles.row_of
        rows = [r for r in map(row_of.__getitem__, numbers) if r >= 0]
        made, row_notes = alleles.made, self._row_notes
        for r in rows:
            if r not in made:
                edit = alleles.pool.edit(r, alleles.offset)
                note = row_notes.get(r)
                if note is None:
                    note = row_notes[r] = alleles.pool.note(r)
                made[r] = None if excluded(edit) else (edit, note)
        items = [x for x in map(made.__getitem__, rows) if x is not None]
        end = -1
        for edit, _ in items:
            if edit.rel_pos < end:
                break
            end = edit.rel_pos + len(edit.ref)
        else:
            end = None
        if end is not None:  # alleles that overlap: the first by position stays
            skipped = Counter(skipped)
            kept, end = [], -1
            for item in items:
                if item[0].rel_pos < end:
                    skipped["overlaps_on_haplotype"] += 1
                else:
                    kept.append(item)
                    end = item[0].rel_pos + len(item[0].ref)
            items = kept
        cap = min(count, self.max_edits)
        if len(items) > cap:
            skipped = Counter(skipped)
            skipped["past_max_edits"] += len(items) - cap
            items = items[:cap]
        return Draw([edit for edit, _ in items], skipped, dict(items), classified, carrier=carrier)


@dataclass(frozen=True)
class _Alleles:
    """The store's alleles starting inside one window's margins: ``row_of[number - first]`` is the pool row
    of allele ``number`` (-1: not eligible), as a list. ``made`` maps a pool row to its edit and note (None: excluded),
    made once per window, when first drawn."""

    first: int
    stop: int
    row_of: list
    pool: Pool
    offset: int
    made: dict = field(default_factory=dict)
