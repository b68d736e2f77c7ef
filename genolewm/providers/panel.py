"""A phased panel converted once for haplotype draws: its sites, and per haplotype the alleles it carries.

``genolewm-prepare source=haplotypes input=PANEL.vcf.gz`` reads a phased
VCF (the 1000 Genomes 30x panel, HGDP, any cohort) once and writes a store
directory (the idea of GenVarLoader's sparse variant store):

- ``sites.vcf.gz`` (+ ``.tbi``): every record's first eight columns, in file
  order (no samples): the variant sources' own reader and allele filter read
  it at build time, so filters, REF checks and skip counts are the same as
  for a gnomAD or ClinVar file;
- the *usable* alleles (A/C/G/T REF and ALT of at most 16 bases, ALT not
  ``*``), numbered in file order: ``start.npy`` (0-based), ``ref.npy`` and
  ``alt.npy`` (16-byte strings); every other ALT is left to the sites file,
  which counts it by reason;
- ``offsets.npy`` and ``carried.npy``: per haplotype (sample ``s`` has
  haplotypes ``2s`` and ``2s + 1``), the numbers of the usable alleles it
  carries, ascending, cut into blocks of 65,536 numbers and kept as their
  low 16 bits (CSR: haplotype ``h``'s alleles in block ``k`` are
  ``k * 65536 + carried[offsets[h * blocks + k]:offsets[h * blocks + k + 1]]``,
  ``blocks`` in ``meta.json``);
- ``dropped_start.npy`` and ``dropped.npy``: per record with calls not used
  (`GT_REASONS`), its start and the calls
  by reason, so a build counts those of the windows it serves;
- ``meta.json``: format, samples, contigs with their ranges in the arrays,
  the input's identity (a URL, or where the file lies from the store's
  directory) and the counts; written last, so a store without it is not
  finished.

Records are read a batch at a time and each batch's carriers written to a
work file, so memory stays flat whatever the panel's size; the CSR is then
filled from the work files, and the store renamed into place when whole.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pysam
from isal import igzip

from ..errors import ConfigError, InputError
from ..logs import progress
from ..remote import RangeReader, describe, exists, is_url, where
from ..types import MAX_ALLELE_BP, digest
from .genotypes import GT_REASONS, phased_calls_of_lines
from .records import line_blocks

log = logging.getLogger(__name__)

STORE_FORMAT = 1
META = "meta.json"
SITES = "sites.vcf.gz"
ARRAYS = ("start", "ref", "alt", "offsets", "carried", "dropped_start", "dropped")
# Allele numbers are kept as their low 16 bits, per block of this many numbers.
BLOCK = 1 << 16
# Text read at once: about 600 records of a 3,202-sample panel (13 kB a line); larger blocks only take memory.
BLOCK_BYTES = 8 << 20
_ACGT = frozenset(b"ACGT")


def _usable(allele: bytes) -> bool:
    return 0 < len(allele) <= MAX_ALLELE_BP and _ACGT.issuperset(allele)


@dataclass(frozen=True)
class PanelStore:
    """A store directory made by `write_panel_store`, opened read-only (arrays memory-mapped)."""

    path: Path
    meta: dict
    start: np.ndarray
    ref: np.ndarray
    alt: np.ndarray
    offsets: np.ndarray
    carried: np.ndarray
    dropped_start: np.ndarray
    dropped: np.ndarray
    starts: list = field(repr=False, default_factory=list)  # ``offsets`` as Python ints

    @classmethod
    def open(cls, path, key: str = "paths.haplotypes") -> "PanelStore":
        path = Path(path)
        meta_path = path / META
        if not meta_path.is_file():
            hint = (" (it is a VCF: convert it once with `genolewm-prepare source=haplotypes input=" f"{path}`)"
                    if str(path).endswith((".vcf.gz", ".vcf.bgz", ".bcf", ".vcf")) else
                    " (an unfinished prepare leaves none: run it again)")
            raise InputError(f"{key}: {path} is not a haplotype store: no {META}{hint}")
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{key}: {meta_path} cannot be read ({exc}); prepare the store again") from exc
        if not isinstance(meta, dict) or meta.get("format") != STORE_FORMAT:
            raise InputError(f"{key}: {path} is a haplotype store of format {meta.get('format')!r}, this genolewm "
                             f"reads {STORE_FORMAT}; prepare it again from the panel VCF")
        arrays = {}
        for name in ARRAYS:
            try:
                # Mapped, as plain arrays: a haplotype's slice is taken for every draw.
                arrays[name] = np.asarray(np.load(path / f"{name}.npy", mmap_mode="r", allow_pickle=False))
            except (OSError, ValueError) as exc:
                raise InputError(f"{key}: {path / (name + '.npy')} cannot be read ({exc}); prepare the store "
                                 "again") from exc
        # Python ints: one haplotype's slice is cut per draw.
        store = cls(path, meta, **arrays, starts=arrays["offsets"].tolist())
        n_haps = 2 * len(meta["samples"])
        if len(store.offsets) != n_haps * meta["blocks"] + 1 or int(store.offsets[-1]) != len(store.carried) \
                or len(store.ref) != len(store.start) or len(store.alt) != len(store.start) \
                or len(store.dropped) != len(store.dropped_start):
            raise InputError(f"{key}: {path}: its arrays do not agree with each other or with {META}; prepare the "
                             "store again")
        return store

    @property
    def samples(self) -> list[str]:
        return self.meta["samples"]

    @property
    def sites(self) -> str:
        return str(self.path / SITES)

    def files(self) -> tuple[str, ...]:
        """Every file of the store (what a build's manifest hashes)."""
        return (str(self.path / META), self.sites, *(str(self.path / f"{n}.npy") for n in ARRAYS))

    def identity(self) -> str:
        """What the store holds: wherever it or its panel lies."""
        source = self.meta["input"]
        return digest({"format": STORE_FORMAT,
                       "input": {"name": os.path.basename(self.vcf), "size": source.get("size")},
                       "samples": self.samples, "contigs": self.meta["contigs"], "counts": self.meta["counts"]})

    @property
    def vcf(self) -> str:
        """The phased VCF the store was made from: its URL, or a local file where it lay from the store's
        directory when the store was made (a store moved with its panel still finds it)."""
        source = self.meta["input"]
        return source["path"] if "path" in source else os.path.normpath(self.path.parent / source["beside"])

    def span(self, file_chrom: str, lo: int, hi: int) -> tuple[int, int]:
        """The numbers ``[a, b)`` of the usable alleles of ``file_chrom`` starting in ``[lo, hi)``."""
        first, stop = self.meta["contigs"].get(file_chrom, {"alleles": [0, 0]})["alleles"]
        a, b = np.searchsorted(self.start[first:stop], [lo, hi])
        return first + int(a), first + int(b)

    def carried_in(self, haplotype: int, a: int, b: int) -> np.ndarray:
        """The numbers in ``[a, b)`` of the alleles ``haplotype`` carries, ascending."""
        starts, blocks = self.starts, self.meta["blocks"]
        parts = []
        for block in range(a // BLOCK, (b - 1) // BLOCK + 1 if b > a else a // BLOCK):
            at = haplotype * blocks + block
            own = self.carried[starts[at] : starts[at + 1]]
            base = block * BLOCK
            i, j = own.searchsorted(max(a - base, 0)), own.searchsorted(min(b - base, BLOCK))
            parts.append(own[i:j].astype(np.int64) + base)
        return parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def carried_of(self, haplotypes: list[int], a: int, b: int) -> list[list[int]]:
        """For each of ``haplotypes``, the numbers in ``[a, b)`` of the alleles it carries, ascending, less
        ``a``: the haplotypes' runs in the block read at once, and cut with array arithmetic."""
        if b <= a or a // BLOCK != (b - 1) // BLOCK:  # none, or across blocks (rare): one at a time
            return [(self.carried_in(h, a, b) - a).tolist() for h in haplotypes]
        starts, blocks, block = self.starts, self.meta["blocks"], a // BLOCK
        runs = [self.carried[starts[h * blocks + block] : starts[h * blocks + block + 1]] for h in haplotypes]
        ends = np.cumsum(np.fromiter(map(len, runs), np.int64, len(runs)))
        values = np.concatenate(runs) if runs else np.zeros(0, np.uint16)
        lo, hi = a - block * BLOCK, b - block * BLOCK
        inside = (values >= lo) & (values < hi)
        # Each run is ascending: its numbers in [lo, hi) are one stretch, counted by the cumulative sum.
        before = np.concatenate([[0], np.cumsum(inside)])
        firsts, lasts = before[ends - np.fromiter(map(len, runs), np.int64, len(runs))], before[ends]
        kept = (values[inside].astype(np.int64) - lo).tolist()
        return [kept[i:j] for i, j in zip(firsts.tolist(), lasts.tolist())]

    def dropped_on(self, file_chrom: str) -> tuple[np.ndarray, np.ndarray]:
        """The starts of ``file_chrom``'s records with calls not used, and those calls by reason."""
        first, stop = self.meta["contigs"].get(file_chrom, {"dropped": [0, 0]})["dropped"]
        return self.dropped_start[first:stop], self.dropped[first:stop]


def _header(text: str) -> str:
    """The panel's header without its FORMAT lines and sample columns."""
    lines = [line for line in text.splitlines() if not line.startswith("##FORMAT=")]
    lines[-1] = "\t".join(lines[-1].split("\t")[:8])
    return "\n".join(lines) + "\n"


class _Batch:
    """What one block of records adds to the store."""

    def __init__(self, lines: list[bytes], n_samples: int, first_allele: int, where_: str) -> None:
        sites, n_alts, usable, chroms, starts = [], [], [], [], []
        self.start: list[int] = []
        self.ref: list[bytes] = []
        self.alt: list[bytes] = []
        for line in lines:
            cols = line.split(b"\t", 8)
            if len(cols) < 9:
                raise InputError(f"{where_}: record {line[:60]!r} has no sample columns; a haplotype source "
                                 "needs a phased VCF with GT for its samples")
            try:
                start = int(cols[1]) - 1
            except ValueError as exc:
                raise InputError(f"{where_}: record {line[:60]!r}: POS is not a number") from exc
            sites.append(b"\t".join(cols[:8]))
            chroms.append(cols[0])
            starts.append(start)
            alts = cols[4].split(b",")
            n_alts.append(len(alts))
            ref = cols[3].upper()
            numbers = []
            for alt in alts:
                alt = alt.upper()
                if _usable(ref) and _usable(alt) and alt != ref:
                    numbers.append(first_allele + len(self.start))
                    self.start.append(start)
                    self.ref.append(ref)
                    self.alt.append(alt)
                else:
                    numbers.append(-1)
            usable.append(numbers)
        self.usable_per_record = [sum(n >= 0 for n in numbers) for numbers in usable]
        self.sites, self.chroms, self.record_starts = sites, chroms, starts
        calls = phased_calls_of_lines(lines, n_samples, np.array(n_alts))
        width = max(n_alts) + 1
        # number[r, k]: the usable allele number of ALT k of record r (-1: REF, unusable or not there).
        number = np.full((len(lines), width), -1, np.int64)
        for r, numbers in enumerate(usable):
            number[r, 1 : len(numbers) + 1] = numbers
        flat = calls.alleles.reshape(-1)  # record-major; within a record, haplotype 2s + h of sample s
        at = np.flatnonzero(flat > 0)
        r, haplotype = np.divmod(at, 2 * n_samples)
        got = number[r, flat[at]]
        keep = got >= 0
        haplotype = haplotype[keep]
        # Haplotype-major, records ascending within a haplotype (a stable sort keeps the record order).
        order = np.argsort(haplotype, kind="stable")
        self.haplotype = haplotype[order]
        self.carried = got[keep][order].astype(np.int32)
        self.unusable_calls = int((~keep).sum())  # carriers of alleles the sites file counts as skipped
        reasons = calls.reasons
        at = np.flatnonzero(reasons.reshape(-1) >= 0)
        per_record = np.zeros((len(lines), len(GT_REASONS)), np.int32)
        np.add.at(per_record, (at // n_samples, reasons.reshape(-1)[at]), 1)
        self.dropped_rows = np.flatnonzero(per_record.any(axis=1))
        self.dropped = per_record[self.dropped_rows]


def write_panel_store(input_path: str, output: str, *, show_progress: bool = False, work_root: str | None = None,
                      block_bytes: int = BLOCK_BYTES) -> dict:
    """Convert the phased VCF ``input_path`` (bgzipped or plain; a path or a URL) into the store directory
    ``output``; return the report (also in its ``meta.json``)."""
    if not exists(input_path):
        raise InputError(f"input: file not found: {input_path}")
    if os.path.exists(output):
        raise ConfigError(f"output={output}: exists; remove it or name another directory")
    started = time.perf_counter()
    try:
        with pysam.VariantFile(input_path) as vf:
            header = vf.header
            samples = list(header.samples)
            text = str(header)
            has_gt = "GT" in header.formats
    except (OSError, ValueError) as exc:
        raise InputError(f"input: cannot read VCF {input_path}: {exc}") from exc
    if not samples or not has_gt:
        raise InputError(f"input: {input_path} has {'no samples' if not samples else 'no FORMAT GT'}; a haplotype "
                         "source needs a phased VCF with GT calls")
    if len(set(samples)) != len(samples):
        raise InputError(f"input: {input_path} names a sample twice; sample names must be unique")
    parent = Path(work_root or os.path.dirname(os.path.abspath(output)))
    work = parent / f".{Path(output).name}.partial-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        meta = _convert(input_path, output, text, samples, work, show_progress, block_bytes)
        tmp = work / f"{META}.tmp"
        tmp.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, work / META)
        os.replace(work, output)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {**meta, "elapsed_s": round(time.perf_counter() - started, 3)}


def _convert(input_path: str, output: str, text: str, samples: list[str], work: Path, show_progress: bool,
             block_bytes: int) -> dict:
    n_haps = 2 * len(samples)
    counts_per_hap = np.zeros(n_haps, np.int64)
    chunks: list[tuple[Path, np.ndarray]] = []
    starts: list[np.ndarray] = []
    refs: list[np.ndarray] = []
    alts: list[np.ndarray] = []
    dropped_start: list[np.ndarray] = []
    dropped: list[np.ndarray] = []
    contigs: dict[str, dict] = {}
    order: list[str] = []
    n_alleles = n_records = unusable_calls = allele_at = dropped_at = last_start = 0
    where_ = where(input_path)
    size = describe(input_path, warn=False)["size"] if is_url(input_path) else os.path.getsize(input_path)
    sites_tmp = work / SITES
    with RangeReader(input_path) as source, pysam.BGZFile(str(sites_tmp), "wb") as sites_out, \
            progress(log, show_progress, "prepare haplotypes", size, "B", 1e6) as update:
        sites_out.write(_header(text).encode())
        raw = io.BufferedReader(source, 1 << 20)
        handle = igzip.open(raw, "rb") if raw.peek(2)[:2] == b"\x1f\x8b" else raw
        seen = 0
        for line in handle:
            if not line.startswith(b"#"):
                first = line
                break
        else:
            first = b""
        for block in line_blocks(handle.read, first, block_bytes):
            lines = block.rstrip(b"\n").split(b"\n")
            batch = _Batch(lines, len(samples), n_alleles, where_)
            has_drop = np.zeros(len(lines), bool)
            has_drop[batch.dropped_rows] = True
            for chrom, start, n_usable, drop in zip(batch.chroms, batch.record_starts, batch.usable_per_record,
                                                    has_drop.tolist()):
                name = chrom.decode()
                if name not in contigs:
                    contigs[name] = {"records": 0, "alleles": [allele_at, allele_at],
                                     "dropped": [dropped_at, dropped_at]}
                    order.append(name)
                elif order[-1] != name:
                    raise InputError(f"input: {where_}: records of {name} are not together (met again after "
                                     f"{order[-1]}); sort the VCF (bcftools sort)")
                entry = contigs[name]
                if start < last_start and entry["records"]:
                    raise InputError(f"input: {where_}: record {name}:{start + 1} comes after {name}:{last_start + 1}; "
                                     "sort the VCF (bcftools sort)")
                last_start = start
                entry["records"] += 1
                allele_at += n_usable
                dropped_at += drop
                entry["alleles"][1], entry["dropped"][1] = allele_at, dropped_at
            sites_out.write(b"\n".join(batch.sites) + b"\n")
            starts.append(np.array(batch.start, np.int64))
            refs.append(np.array(batch.ref, f"S{MAX_ALLELE_BP}"))
            alts.append(np.array(batch.alt, f"S{MAX_ALLELE_BP}"))
            chunk = work / f"chunk-{len(chunks):06d}.npy"
            np.save(chunk, batch.carried)
            per_hap = np.bincount(batch.haplotype, minlength=n_haps)
            chunks.append((chunk, per_hap))
            counts_per_hap += per_hap
            dropped_start.append(np.array(batch.record_starts, np.int64)[batch.dropped_rows])
            dropped.append(batch.dropped)
            n_alleles += len(batch.start)
            n_records += len(lines)
            unusable_calls += batch.unusable_calls
            now = source.pos
            update(now - seen, f", {n_records:,} records")
            seen = now
    if not n_records:
        raise InputError(f"input: {where_} has no records")
    pysam.tabix_index(str(sites_tmp), preset="vcf", force=True)
    offsets = np.zeros(n_haps + 1, np.int64)
    np.cumsum(counts_per_hap, out=offsets[1:])
    numbers = np.lib.format.open_memmap(work / "numbers.npy", "w+", np.int32, (int(offsets[-1]),))
    filled = offsets[:-1].copy()
    for chunk, per_hap in chunks:  # each chunk haplotype-major: its run of each haplotype goes after the last
        values = np.load(chunk)
        first = np.cumsum(per_hap) - per_hap
        numbers[np.repeat(filled - first, per_hap) + np.arange(len(values))] = values
        filled += per_hap
        chunk.unlink()
    blocks = max(1, -(-n_alleles // BLOCK))
    block_offsets = _in_blocks(numbers, offsets, blocks, work / "carried.npy")
    del numbers
    (work / "numbers.npy").unlink()
    gt = np.concatenate(dropped) if dropped else np.zeros((0, len(GT_REASONS)), np.int32)
    arrays = {"start": np.concatenate(starts), "ref": np.concatenate(refs), "alt": np.concatenate(alts),
              "offsets": block_offsets, "dropped_start": np.concatenate(dropped_start), "dropped": gt}
    for name, values in arrays.items():
        np.save(work / f"{name}.npy", values)
    totals = gt.sum(axis=0)
    return {
        "format": STORE_FORMAT,
        "input": _identity(input_path, output),
        "samples": samples,
        "contigs": {name: contigs[name] for name in order},
        "blocks": blocks,
        "counts": {"records": n_records, "usable_alleles": n_alleles, "carried": int(offsets[-1]),
                   "carried_unusable": unusable_calls,
                   "calls_not_used": {r: int(n) for r, n in zip(GT_REASONS, totals.tolist()) if n}},
    }


def _in_blocks(numbers: np.ndarray, offsets: np.ndarray, blocks: int, path: Path) -> np.ndarray:
    """Write ``numbers`` (haplotype-major, ascending in each haplotype; haplotype ``h`` holds
    ``offsets[h]:offsets[h + 1]``) as their low 16 bits to ``path``; return where each haplotype's run in
    each block of `BLOCK` numbers begins (``[h * blocks + b]``, then the end)."""
    out = np.lib.format.open_memmap(path, "w+", np.uint16, (len(numbers),))
    block_offsets = np.zeros((len(offsets) - 1) * blocks + 1, np.int64)
    edges = np.arange(blocks, dtype=np.int64) * BLOCK
    for h in range(len(offsets) - 1):  # a haplotype at a time: memory stays flat
        a, b = int(offsets[h]), int(offsets[h + 1])
        own = numbers[a:b]
        block_offsets[h * blocks : (h + 1) * blocks] = a + np.searchsorted(own, edges)
        out[a:b] = (own & (BLOCK - 1)).astype(np.uint16)
    block_offsets[-1] = len(numbers)
    out.flush()
    return block_offsets


def _identity(input_path: str, output: str) -> dict:
    """A URL's description; a local file's size and where it lies from the store's directory."""
    if is_url(input_path):
        return describe(input_path)
    beside = os.path.relpath(os.path.abspath(input_path), os.path.dirname(os.path.abspath(output)))
    return {"beside": beside, "size": os.path.getsize(input_path)}
