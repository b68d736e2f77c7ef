"""Variant sources: a bgzipped, tabix-indexed VCF, or variants held in memory (tests, notebooks).

Both decompose records per ALT allele, keep the alleles their
`AlleleFilter` accepts, check each REF
against the window once, and draw a uniform sample without replacement of
the eligible alleles inside a window's edge margins.
"""

from __future__ import annotations

import bisect
import os
from collections import Counter
from dataclasses import dataclass
from functools import partial
from random import Random
from typing import Iterable, Iterator, Sequence

import numpy as np
import pysam

from ..bgzf import read_tbi
from ..contigs import ContigNames, canonical
from ..errors import ConfigError, ContractError, InputError
from ..remote import RangeReader, exists, is_url, local_index
from ..streams import Stream
from ..types import (
    MAX_ALLELE_BP, NOTHING_COUNTED, NOTHING_SKIPPED, Draw, Excluded, RelEdit, Tally, WindowContext, digest,
    is_acgt,
)
from .alleles import Pass, Pool
from .base import Unprepared, never, sample_pool
from .filters import AlleleFilter, Selected
from .inflate import CutRecords
from .records import LONG_LINE_BYTES, header_layout, line_blocks, record_batches

REF_MISMATCH_POLICIES = ("skip", "error")
# Past a gap this long between windows, seek instead of reading through it.
READ_THROUGH_BP = 1_000_000


def _head(path: str) -> bytes:
    with RangeReader(path, 0, 16) as reader:
        return reader.read(16)


def is_gzip(path: str) -> bool:
    return _head(path)[:2] == b"\x1f\x8b"


def _is_bgzf(path: str) -> bool:
    head = _head(path)
    # gzip magic, FEXTRA flag and the BGZF "BC" subfield mark a blocked gzip.
    return len(head) >= 14 and head[:2] == b"\x1f\x8b" and head[3] & 4 and head[12:14] == b"BC"


def index_records(path: str) -> dict[str, int]:
    """Records per contig of an indexed VCF, from its index's statistics (what ``bcftools index -s``
    prints); empty where the index keeps none."""
    index = local_index(path)
    if index is not None and index.endswith(".tbi"):
        with open(index, "rb") as f:
            return {k: v for k, v in read_tbi(f.read(), index).records.items() if v}
    if index is None or is_url(path):
        return {}
    from pysam import bcftools  # pysam's bundled bcftools, for CSI indexes

    try:
        text = bcftools.index("-s", path)
    except pysam.utils.SamtoolsError:
        return {}
    out = {}
    for line in text.splitlines():
        name, *_, records = line.split("\t")
        if records.isdigit():
            out[name] = int(records)
    return out


def open_indexed_vcf_check(path: str, key: str) -> list[str]:
    """Check that ``path`` is a bgzipped VCF with records and a tabix/CSI index that belongs to it;
    return its indexed contigs."""
    if not exists(path):
        raise InputError(f"{key}: file not found: {path}")
    if not _is_bgzf(path):
        if is_gzip(path):  # plain gzip: bgzip would compress it a second time
            stem = path[: -len(".gz")] if path.endswith(".gz") else path
            raise InputError(
                f"{key}: {path} is gzip- but not bgzip-compressed; recompress it: `zcat {path} | bgzip > "
                f"{stem}.bgz` and `tabix -p vcf {stem}.bgz` (or pysam.tabix_index)"
            )
        raise InputError(f"{key}: {path} is not bgzip-compressed; run `bgzip {path}` and `tabix -p vcf {path}.gz`")
    index = local_index(path)
    if index is None:
        raise InputError(f"{key}: {path} has no .tbi or .csi index; run `tabix -p vcf {path}`")
    mismatch = f"{key}: the index {index} does not belong to {path}"
    reindex = f"run `tabix -f -p vcf {path}`"
    # A second of slack: copies and checkouts write a file and its index in either order.
    if not is_url(path) and os.path.getmtime(index) < os.path.getmtime(path) - 1:
        raise InputError(f"{key}: the index {index} is older than {path}; {reindex}")
    try:
        with pysam.TabixFile(path, index=index) as tbx:
            contigs = list(tbx.contigs)
            # Each contig's first indexed line must be a record of that contig: an index of another
            # file points into the wrong places.
            for contig in contigs:
                line = next(iter(tbx.fetch(contig)), None)
                if line is None or line.split("\t", 1)[0] != contig:
                    raise InputError(f"{mismatch} (no {contig} record where it points); {reindex}")
    except (OSError, ValueError) as exc:
        raise InputError(f"{mismatch} (reading it fails: {exc}); {reindex}") from exc
    if not contigs:
        raise InputError(f"{key}: {path} has no records; a variant source needs at least one")
    return contigs


@dataclass
class VariantProvider:
    """Variants from a bgzipped, tabix-indexed VCF, decomposed per ALT allele.

    Alleles are selected by the `AlleleFilter` the filter settings
    describe (``af_field``/``min_af``, ``clnsig``/``onc``, ``pass_only``,
    ``max_allele_len``, ``edit_types``). A REF that disagrees with the
    reference is counted and skipped (``ref_mismatch: skip``) or fatal
    (``error``); one over a base the reference leaves open (N, or an IUPAC
    code read as N) is ``ref_ambiguous``, skipped and counted whatever the
    policy. `prepare` (or, for a window not prepared, its
    `draw`) returns the alleles skipped, by reason, counted once for
    the records that start inside the windows served (and at or past
    ``count_floor``).

    Windows arrive in order along each chromosome and overlap, so records are
    read once, as columns, along a contig (`Pass`);
    `prepare` makes the pools of a block's windows at once, kept for
    every draw on them until the next block.
    """

    path: str
    """The bgzipped, tabix-indexed VCF (a path or an `https://`, `s3://` or `gs://` URL)."""
    name: str = "variants"
    """The source name: what `mix.counts`, `fallback` and the manifest call it."""
    af_field: str = "AF"
    """The INFO key holding the allele frequency (`AF`; `AF_joint` in gnomAD v4.1 joint files)."""
    min_af: float | None = None
    """Keep alleles whose `af_field` value is at least this; null: no frequency filter."""
    clnsig: Sequence[str] | None = None
    """Keep records whose ClinVar classification (INFO `CLNSIG`) is one of these whole terms; null: no filter."""
    onc: Sequence[str] | None = None
    """Also keep records whose oncogenicity classification (INFO `ONC`) is one of these; null: none."""
    pass_only: bool = True
    """Keep only records whose FILTER is `PASS` (or `.`)."""
    max_allele_len: int = MAX_ALLELE_BP
    """The longest REF or ALT kept (at most 16)."""
    edit_types: Sequence[str] | None = None
    """Keep only these edit types (SNV, INS, DEL, MNV, INDEL); null: all."""
    ref_mismatch: str = "skip"
    """A REF that disagrees with the reference: `skip` (counted in the manifest) or `error` (the build stops)."""

    placed = True
    whole_tuple_edits = None

    def __post_init__(self) -> None:
        key = f"providers.{self.name}"
        self.path = os.fspath(self.path)
        if self.ref_mismatch not in REF_MISMATCH_POLICIES:
            raise ConfigError(
                f"{key}.ref_mismatch={self.ref_mismatch!r}: allowed values are {', '.join(REF_MISMATCH_POLICIES)}"
            )
        try:
            self.filter = AlleleFilter.from_settings(
                af_field=self.af_field, min_af=self.min_af, clnsig=self.clnsig, onc=self.onc,
                pass_only=self.pass_only, max_allele_len=self.max_allele_len, edit_types=self.edit_types,
            )
        except ConfigError as exc:
            raise ConfigError(f"{key}.{exc}") from exc
        self.contigs = ContigNames(open_indexed_vcf_check(self.path, f"{key}.path"), index_records(self.path))
        with pysam.VariantFile(self.path, index_filename=local_index(self.path)) as vf:
            self.filter.check_header(vf.header, self.path, key)
            self._n_columns, self._info_lists = header_layout(vf.header, self.filter.info_fields())
        self._tbx: pysam.TabixFile | None = None
        self._bgzf: pysam.BGZFile | None = None
        self._tbx_pid = 0
        self._forget()

    def inputs(self) -> tuple[str, ...]:
        return (self.path,)

    def identity(self) -> str:
        return digest({"class": "VariantProvider", "filter": self.filter.spec(), "ref_mismatch": self.ref_mismatch})

    def audit_spec(self) -> dict:
        return {"kind": "vcf", "path": self.path, "filter": self.filter.spec()}

    def _forget(self) -> None:
        """Drop the pass along a contig and the pools made from it: the next window reads afresh."""
        self._pass: Pass | None = None
        self._pools: dict[tuple, Pool] = {}

    def __getstate__(self) -> dict:
        # Handles and caches never travel; a copy starts reading afresh at its first window.
        return {**self.__dict__, "_pass": None, "_pools": {}, "_tbx": None, "_bgzf": None}

    def _read(self, file_chrom: str, start: int) -> Iterator[tuple[Selected, int]]:
        """The filter's selection of the records starting at or after ``start``, a batch at a time, each
        with the start of the batch's last record."""
        if self._tbx is None or self._tbx_pid != os.getpid():
            # A handle inherited through fork shares its file offset with the parent: reopen.
            self._tbx = pysam.TabixFile(self.path, index=local_index(self.path))
            self._bgzf = pysam.BGZFile(self.path, "rb")
            self._tbx_pid = os.getpid()
        where = f"{self.path} ({file_chrom} from {start + 1})"
        cut = None
        try:
            # The index finds the first record; the text from there is read in blocks, not line by line.
            first = next(self._tbx.fetch(file_chrom, start), None)
            if first is None:
                return
            read = self._bgzf.read
            if len(first) > LONG_LINE_BYTES:  # a release file: inflating and cutting INFO, on another core
                cut = CutRecords(self.path, self._tbx.tell(), tuple(self._info_lists), self._n_columns)
                read = cut.read
            else:
                self._bgzf.seek(self._tbx.tell())
            prefix, more = f"{file_chrom}\t".encode(), True
            for block in line_blocks(read, first.encode() + b"\n"):
                block, more = _this_contig(block, prefix)
                for batch in record_batches([block], self._n_columns, self._info_lists, where):
                    # Records overlapping ``start`` but beginning before it belong to an earlier window.
                    yield self.filter.select(batch).since(start), int(batch.start[-1])
                if not more:
                    return
        except (OSError, ValueError) as exc:
            raise InputError(f"{self.path}: cannot read records of {file_chrom} from {start + 1} ({exc}); "
                             f"was it rewritten after indexing? Run `tabix -f -p vcf {self.path}`") from exc
        finally:
            if cut is not None:
                cut.close()

    def prepare(self, windows: Sequence[WindowContext], *, edge_margin: int,
                count_floor: tuple[str, int] | None = None) -> Tally:
        """Read on past ``windows`` and make each one's pool: the usable alleles wholly inside its edge
        margins whose REF matches the reference, each allele once, in file order. Counts the alleles
        skipped (and classified) that start inside them, past ``count_floor``."""
        self._pools = {}
        skipped: Counter = Counter()
        classified: Counter = Counter()
        run: list[WindowContext] = []
        run_chrom = None
        for window in windows:
            file_chrom = None if window.chrom is None else self.contigs.find(window.chrom)
            if file_chrom is None:
                continue
            # A run ends where the contig changes, the windows go back, or a gap is long enough to seek over.
            if run and (file_chrom != run_chrom or window.start_bp < run[-1].start_bp
                        or window.start_bp - run[-1].end_bp > READ_THROUGH_BP - 2 * edge_margin):
                self._prepare_run(run_chrom, run, edge_margin, count_floor, skipped, classified)
                run = []
            run.append(window)
            run_chrom = file_chrom
        if run:
            self._prepare_run(run_chrom, run, edge_margin, count_floor, skipped, classified)
        return Tally(skipped or NOTHING_SKIPPED, classified or NOTHING_SKIPPED)

    def _prepare_run(self, file_chrom: str, windows: list[WindowContext], edge_margin: int,
                     count_floor: tuple[str, int] | None, skipped: Counter, classified: Counter) -> None:
        los = np.fromiter((w.start_bp + edge_margin for w in windows), np.int64, len(windows))
        his = np.fromiter((w.end_bp - edge_margin for w in windows), np.int64, len(windows))
        chrom = windows[0].chrom
        floor = count_floor[1] if count_floor and count_floor[0] == chrom else -1
        p = self._pass
        if p is None or p.chrom != file_chrom or not p.at <= los[0] <= p.counted_to + READ_THROUGH_BP \
                or self._tbx_pid != os.getpid():
            p = self._pass = Pass(file_chrom, int(los[0]), self._read(file_chrom, int(los[0])))

        def mismatch(start: int, ref: str, alt: str, actual: str) -> InputError:
            return InputError(
                f"{self.path}: record {file_chrom}:{start + 1}:{ref}:{alt} REF does not match the "
                f"reference ({actual!r}); fix the VCF or set providers.{self.name}.ref_mismatch=skip"
            )

        pools = p.prepare(windows, los, his, floor, mismatch if self.ref_mismatch == "error" else None,
                          skipped, classified)
        for window, pool in zip(windows, pools):
            self._pools[self._key(window, edge_margin)] = pool

    def draw_block(self, windows: Sequence[WindowContext], keys: Sequence[int], count: int, *, edge_margin: int,
                   holdouts) -> list[Draw | None]:
        """Each window's first draw, where its pool (made by `prepare`) holds ``count`` alleles that
        are not held out; None for the others and for windows not prepared, whose draw would count what it
        reads."""
        out: list[Draw | None] = []
        for window, key in zip(windows, keys):
            pool = self._pools.get(self._key(window, edge_margin))
            if pool is None or len(pool.indices()) < count:
                out.append(None)
                continue
            got = self._sample(pool, window, Stream(key), count, partial(holdouts.excludes_edit, window))
            out.append(got if len(got.edits) == count else None)
        return out

    def _key(self, window: WindowContext, edge_margin: int) -> tuple | None:
        file_chrom = None if window.chrom is None else self.contigs.find(window.chrom)
        return None if file_chrom is None else (file_chrom, window.start_bp, window.window_id, edge_margin)

    def pool(self, window: WindowContext, edge_margin: int, count_floor: tuple[str, int] | None = None
             ) -> tuple[Pool | None, Tally]:
        """The eligible alleles of ``window`` (None where the VCF has no such contig), and what was counted
        making them: nothing when `prepare` made them with its block."""
        key = self._key(window, edge_margin)
        if key is None:
            return None, NOTHING_COUNTED
        tally = NOTHING_COUNTED
        if key not in self._pools:  # not prepared with a block: the caller counts what this reads
            tally = self.prepare([window], edge_margin=edge_margin, count_floor=count_floor)
        return self._pools[key], tally

    def draw(self, window: WindowContext, rng: Random, count: int, *, edge_margin: int,
             excluded: Excluded = never, count_floor: tuple[str, int] | None = None) -> Draw:
        pool, tally = self.pool(window, edge_margin, count_floor)
        if pool is None:
            return Draw([])
        got = self._sample(pool, window, rng, count, excluded)
        return Draw(got.edits, tally.skipped, got.notes, tally.classified)

    @staticmethod
    def _sample(pool: Pool, window: WindowContext, rng: Random, count: int, excluded: Excluded) -> Draw:
        rows, offset = pool.indices(), window.start_bp
        chosen = sample_pool(len(rows), lambda k: pool.edit(rows[k], offset), rng, count, excluded)
        return Draw([e for _, e in chosen], notes={e: pool.note(rows[k]) for k, e in chosen})

    def __call__(self, window: WindowContext, rng: Random, count: int, *, edge_margin: int,
                 excluded: Excluded = never) -> list[RelEdit]:
        """The seed's call: just the edits."""
        return self.draw(window, rng, count, edge_margin=edge_margin, excluded=excluded).edits


def _this_contig(block: bytes, prefix: bytes) -> tuple[bytes, bool]:
    """The lines of ``block`` before the first record of another contig (records of a contig are
    contiguous: if the last line is one of ``prefix``'s, all are), and whether no other contig began."""
    last = len(block)
    while last and block[last - 1] == ord("\n"):  # past trailing newlines, without copying the block
        last -= 1
    if block.startswith(prefix, block.rfind(b"\n", 0, last) + 1):
        return block, True
    end = 0
    for line in block.splitlines(keepends=True):
        if line.strip() and not line.startswith(prefix):
            return block[:end], False
        end += len(line)
    return block, True


@dataclass
class InMemoryVariants(Unprepared):
    """Variants given as ``(chrom, 1-based pos, ref, alt)``, as the seed's ``variant_provider`` took them.

    Each allele is checked against the window it falls in; one whose REF
    differs is skipped and counted the first time (``ref_ambiguous`` where
    the window has N there, else ``ref_mismatch``). It
    reads no file, so the audit cannot check it: for tests and notebooks.
    """

    variants: Iterable[tuple[str, int, str, str]]
    name: str = "variants"

    placed = True

    def __post_init__(self) -> None:
        by_chrom: dict[str, list[tuple[int, str, str]]] = {}
        for item in self.variants:
            try:
                chrom, pos, ref, alt = item
            except (TypeError, ValueError) as exc:
                raise ContractError(f"variant_provider: {item!r} is not (chrom, pos, ref, alt)") from exc
            ref, alt = str(ref).upper(), str(alt).upper()
            if not isinstance(pos, int) or isinstance(pos, bool) or pos < 1 or not is_acgt(ref) or not is_acgt(alt) \
                    or max(len(ref), len(alt)) > MAX_ALLELE_BP or ref == alt:
                raise ContractError(
                    f"variant_provider: {chrom}:{pos}:{ref}:{alt} needs a 1-based int pos and distinct "
                    f"A/C/G/T alleles of at most {MAX_ALLELE_BP} bases"
                )
            by_chrom.setdefault(str(chrom), []).append((pos - 1, ref, alt))
        self.contigs = ContigNames(by_chrom)
        # Keyed by the convention-free name, so chr1 and 1 are one contig.
        merged: dict[str, set] = {}
        for chrom, items in by_chrom.items():
            merged.setdefault(canonical(chrom), set()).update(items)
        self._by_chrom = {c: sorted(v) for c, v in merged.items()}
        self._counted: set = set()

    def inputs(self) -> tuple[str, ...]:
        return ()

    def identity(self) -> str:
        return digest({"class": "InMemoryVariants", "variants": {c: [list(v) for v in vs]
                                                                  for c, vs in self._by_chrom.items()}})

    def audit_spec(self) -> dict:
        return {"kind": "in_memory", "name": self.name}

    def draw(self, window: WindowContext, rng: Random, count: int, *, edge_margin: int,
             excluded: Excluded = never, count_floor=None) -> Draw:
        chrom = None if window.chrom is None else canonical(window.chrom)
        variants = self._by_chrom.get(chrom)
        if not variants:
            return Draw([])
        lo, hi = window.start_bp + edge_margin, window.end_bp - edge_margin
        skipped: Counter = Counter()
        pool = []
        for start, ref, alt in variants[bisect.bisect_left(variants, (lo,)):]:
            if start >= hi:
                break
            if start + len(ref) > hi:
                continue
            rel = start - window.start_bp
            actual = window.sequence[rel : rel + len(ref)]
            if actual != ref:
                if (chrom, start, ref, alt) not in self._counted:
                    self._counted.add((chrom, start, ref, alt))
                    skipped["ref_ambiguous" if "N" in actual else "ref_mismatch"] += 1
                continue
            pool.append((rel, ref, alt))
        chosen = sample_pool(len(pool), lambda k: RelEdit(*pool[k]), rng, count, excluded)
        return Draw([e for _, e in chosen], skipped)

    def __call__(self, window: WindowContext, rng: Random, count: int, *, edge_margin: int,
                 excluded: Excluded = never) -> list[RelEdit]:
        return self.draw(window, rng, count, edge_margin=edge_margin, excluded=excluded).edits


def variant_provider(source, **settings) -> VariantProvider | InMemoryVariants:
    """A provider of VCF variants: ``source`` is a VCF path (filters as `VariantProvider`'s
    settings) or, as in the seed, an iterable of ``(chrom, 1-based pos, ref, alt)``."""
    if isinstance(source, (str, os.PathLike)):
        return VariantProvider(source, **settings)
    return InMemoryVariants(source, **settings)
