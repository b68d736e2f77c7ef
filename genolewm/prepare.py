"""``python -m genolewm.prepare source=gnomad input=PATH|URL``: shrink a release VCF to what the builder uses.

Reads a raw VCF (bgzipped or plain, local or behind an ``https://``,
``s3://`` or ``gs://`` URL) once and writes a bgzipped, tabix-indexed VCF
holding only the alleles the source's filter (``providers.<source>`` in the
build config) accepts, one ALT allele per line with its own INFO value as
written in the input, plus a JSON report of what was kept and dropped by
reason. Build configs point at the output
(``paths.gnomad=.../gnomad.prepared.vcf.gz``).

A bgzipped input with a tabix index is cut into parts of about ``part_mb``
compressed megabytes at record starts the index names
(`genolewm.bgzf`); ``workers`` processes prepare the parts in any order,
each part's output is kept in a work directory named by what the output
depends on, and the output is their concatenation in file order: the same
bytes for any number of workers, and a rerun of a killed prepare does only
the parts that had not finished. Other inputs are one part. Memory stays
flat: a part is decoded a batch at a time, with the builder's own decoder
and filter.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import signal
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import hydra
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pysam
from hydra.core.hydra_config import HydraConfig
from isal import igzip
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from .arrow import as_numpy
from .bgzf import EOF_BLOCK, BgzfText, cut, read_tbi
from .config import PREPARE_CONFIG_PATH, hydra_command
from .contigs import ContigNames
from .errors import Abort, ConfigError, GenolewmError, InputError
from .logs import LOG_ONLY, progress
from .providers import REF_MISMATCH_POLICIES, AlleleFilter
from .providers.filters import FILTER_SETTINGS
from .providers.panel import write_panel_store
from .providers.records import header_layout, line_blocks, record_batches, slim
from .remote import RangeReader, describe, exists, find_index, is_url, read_whole, stamp, where
from .store import file_sha256
from .store.pool import die_with_parent
from .types import digest

log = logging.getLogger("genolewm.prepare")  # not __main__ when run with python -m

# Short names users type for the VCF sources of the default providers.
SOURCE_ALIASES = {"gnomad": "gnomad_common"}
# The source whose input is a phased panel, converted into a store directory instead of a VCF.
HAPLOTYPES = "haplotypes"
# What a part's output depends on besides the settings: bump when the output's bytes change.
PART_FORMAT = 1
FORK = multiprocessing.get_context("fork")
MIN_PARTS = 16


def allele_filter(settings) -> AlleleFilter:
    """The `AlleleFilter` of one provider's config node."""
    try:
        return AlleleFilter.from_settings(**{k: settings[k] for k in FILTER_SETTINGS if k in settings})
    except ConfigError as exc:
        raise ConfigError(f"providers.{settings.get('name', '?')}.{exc}") from exc


def _output_header(source: pysam.VariantHeader, filt: AlleleFilter) -> pysam.VariantHeader:
    header = pysam.VariantHeader()
    for name, contig in source.contigs.items():
        if contig.length:
            header.contigs.add(name, length=contig.length)
        else:
            header.contigs.add(name)
    for name, f in source.filters.items():
        if name != "PASS":
            header.filters.add(name, None, None, f.description or name)
    for name in filt.info_fields():
        info = source.info[name]
        header.info.add(name, info.number, info.type, info.description or name)
    return header


class _RefCheck:
    """The reference's REF check for prepared alleles (when a reference is given): a mismatch is a reason
    to drop the allele, or fatal."""

    def __init__(self, reference: str | None, policy: str, input_path: str) -> None:
        self.reference, self.policy, self.input_path = reference, policy, input_path
        self.fasta = pysam.FastaFile(reference) if reference else None
        self.names = ContigNames(self.fasta.references) if self.fasta else None

    def reason(self, chrom: str, start: int, ref: str, alt: str) -> str | None:
        name = self.names.find(chrom)
        actual = self.fasta.fetch(name, start, start + len(ref)).upper() if name else None
        if actual == ref:
            return None
        if actual is None:
            return "contig_not_in_reference"
        if actual.strip("ACGT"):  # the reference leaves a base open: an IUPAC code or N
            return "ref_ambiguous"
        if self.policy == "error":
            raise InputError(
                f"{self.input_path}: record {chrom}:{start + 1}:{ref}:{alt} REF does not "
                f"match {self.reference} ({actual!r}); fix the VCF or set ref_mismatch=skip"
            )
        return "ref_mismatch"

    def close(self) -> None:
        if self.fasta is not None:
            self.fasta.close()


def _body(handle: BinaryIO) -> Iterator[bytes]:
    """The record lines of a VCF opened for reading bytes, in blocks of whole lines."""
    for line in handle:
        if not line.startswith(b"#"):
            yield from line_blocks(handle.read, line)
            return


@dataclass(frozen=True)
class Part:
    """The records between virtual offsets ``begin`` and ``end`` of the input (both None: the whole body
    of an input without a tabix index)."""

    index: int
    begin: int | None = None
    end: int | None = None

    @property
    def size(self) -> int:
        """Compressed bytes it spans (0 when unknown)."""
        return (self.end >> 16) - (self.begin >> 16) if self.begin is not None else 0


@dataclass
class Job:
    """What every part is prepared with: one input, one filter, one work directory."""

    input_path: str
    header: pysam.VariantHeader
    filt: AlleleFilter
    reference: str | None
    ref_mismatch: str
    work: Path


def _allele_values(values: pa.Array, index: np.ndarray, where_: str, name: str) -> pa.Array:
    """Each allele's own item of a per-allele (Number=A) INFO value: item ``index`` of its record's
    comma-separated list (null where the record has none)."""
    lists = pc.split_pattern(values, ",")
    valid = as_numpy(lists.is_valid(), False)
    if not valid.any():
        return pa.nulls(len(values), pa.string())
    if np.any(valid & (index >= as_numpy(pc.list_value_length(lists)))):
        raise InputError(f"{where_}: an INFO {name} value has fewer items than its record has ALT alleles, "
                         "though the header declares it Number=A")
    at = np.where(valid, as_numpy(lists.offsets)[:-1] + index, 0)
    return pc.if_else(lists.is_valid(), pc.list_flatten(lists).take(pa.array(at)), pa.nulls(len(values), pa.string()))


def _lines(batch, rows: np.ndarray, info_fields: tuple[str, ...], per_allele: dict[str, bool], where_: str) -> bytes:
    """The output lines of alleles ``rows`` of ``batch``: one ALT each, INFO cut to ``info_fields``."""
    if not len(rows):
        return b""
    take, recs = pa.array(rows), pa.array(batch.rec[rows])
    items = []
    for name in info_fields:
        values = batch.info_raw(name).take(recs)
        if per_allele[name]:
            values = _allele_values(values, batch.index[rows], where_, name)
        items.append(pc.binary_join_element_wise(f"{name}=", values, ""))
    info = pc.binary_join_element_wise(*items, ";", null_handling="skip") if items else pa.nulls(len(rows), pa.string())
    info = pc.if_else(pc.fill_null(pc.equal(info, ""), True), ".", info)
    columns = [batch.column("CHROM").take(recs), pc.cast(batch.column("POS").take(recs), pa.string()),
               batch.column("ID").take(recs), batch.ref.take(take), batch.alt.take(take),
               pa.repeat(".", len(rows)),
               batch.column("FILTER").take(recs), info]
    lines = pc.binary_join_element_wise(*columns, "\t")
    return ("\n".join(lines.to_pylist()) + "\n").encode()


def _copy_alleles(blocks: Iterator[bytes], header: pysam.VariantHeader, out, filt: AlleleFilter,
                  check: _RefCheck, where_: str, tick: Callable[[int], None]) -> tuple[int, int, Counter, Counter]:
    """Write each usable allele of the records in ``blocks`` as its own record; return (records, alleles,
    kept per contig, dropped alleles by reason). ``tick(records)`` follows each batch."""
    records = alleles = 0
    kept: Counter = Counter()
    dropped: Counter = Counter()
    info_fields = filt.info_fields()
    # One ALT per output line: per-allele (Number=A) values keep this allele's.
    per_allele = {name: header.info[name].number == "A" for name in info_fields}
    n_columns, info_lists = header_layout(header, info_fields)
    for batch in record_batches(blocks, n_columns, info_lists, where_):
        records += len(batch.records)
        alleles += len(batch)
        reasons = filt.reasons(batch)
        if check.fasta is not None:
            chroms, refs, alts = batch.column("CHROM"), batch.ref, batch.alt
            for row in np.flatnonzero(reasons == None).tolist():  # noqa: E711 - elementwise
                rec = int(batch.rec[row])
                reasons[row] = check.reason(chroms[rec].as_py(), int(batch.start[row]), refs[row].as_py(),
                                            alts[row].as_py())
        rejected = reasons != None  # noqa: E711 - elementwise
        dropped.update(reasons[rejected].tolist())
        rows = np.flatnonzero(~rejected)
        kept.update(batch.column("CHROM").take(pa.array(batch.rec[rows])).to_pylist())
        out.write(_lines(batch, rows, info_fields, per_allele, where_))
        tick(len(batch.records))
    return records, alleles, kept, dropped


def _part_paths(job: Job, part: Part) -> tuple[Path, Path]:
    stem = job.work / f"part-{part.index:06d}"
    return stem.with_suffix(".vcf.gz"), stem.with_suffix(".json")


def _prepare_part(job: Job, part: Part, report: Callable[[int, int], None]) -> None:
    """Prepare one part into the work directory: its records under a temporary name, renamed when
    complete, then its counts (whose file marks the part done). ``report(bytes, records)`` tells the
    compressed bytes and records read since it was last called."""
    vcf, counts = _part_paths(job, part)
    tmp = vcf.with_name(f"{vcf.name}.{os.getpid()}.tmp")
    check = _RefCheck(job.reference, job.ref_mismatch, job.input_path)
    raw = None
    try:
        if part.begin is None:  # one local file read whole
            raw = open(job.input_path, "rb")
            handle = igzip.open(raw, "rb") if raw.peek(2)[:2] == b"\x1f\x8b" else raw
            blocks, consumed = _body(handle), raw.tell
        else:
            # A part ends inside the block where the next begins, and a block holds at most 64 KiB: with
            # that bound the reader needs no HEAD request for the file's size.
            raw = RangeReader(job.input_path, part.begin >> 16, (part.end >> 16) + (1 << 16))
            text = BgzfText(raw, part.begin, part.end, job.input_path)
            # INFO is cut where the lines lie in each block's text, so a part's text is never copied whole.
            n_columns, keys = header_layout(job.header, job.filt.info_fields())
            blocks = text.lines(lambda t, lo, hi: slim(t, keys, n_columns, lo, hi))
            consumed = lambda: text.consumed  # noqa: E731
        seen = 0

        def tick(records: int) -> None:
            nonlocal seen
            now = consumed()
            report(now - seen, records)
            seen = now

        with pysam.BGZFile(str(tmp), "wb") as out:
            n_records, n_alleles, kept, dropped = _copy_alleles(blocks, job.header, out, job.filt, check,
                                                                job.input_path, tick)
        os.replace(tmp, vcf)
        text_counts = json.dumps({"records_read": n_records, "alleles_read": n_alleles,
                                  "kept_by_contig": dict(kept), "dropped": dict(dropped)})
        tmp_counts = counts.with_name(f"{counts.name}.{os.getpid()}.tmp")
        tmp_counts.write_text(text_counts)
        os.replace(tmp_counts, counts)
    finally:
        if raw is not None:
            raw.close()
        check.close()
        if tmp.exists():
            tmp.unlink()


_WORKER: tuple = ()  # (job, bytes done, records done) in a worker process


def _start_worker(parent: int, job: Job, done_bytes, done_records) -> None:
    global _WORKER
    die_with_parent(parent)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # ended by the pool: quietly
    _WORKER = (job, done_bytes, done_records)


def _worker_part(part: Part) -> int:
    job, done_bytes, done_records = _WORKER

    def report(n_bytes: int, n_records: int) -> None:
        with done_bytes.get_lock():
            done_bytes.value += n_bytes
        with done_records.get_lock():
            done_records.value += n_records

    _prepare_part(job, part, report)
    return part.index


def _run_parts(job: Job, parts: list[Part], workers: int, report: Callable[[int, int], None]) -> None:
    """Prepare ``parts``: in this process, or in ``workers`` forked processes."""
    if workers == 1:
        for part in parts:
            _prepare_part(job, part, report)
        return
    done_bytes, done_records = FORK.Value("q", 0), FORK.Value("q", 0)
    seen = [0, 0]

    def poll() -> None:
        now = [done_bytes.value, done_records.value]
        report(now[0] - seen[0], now[1] - seen[1])
        seen[:] = now

    with FORK.Pool(workers, initializer=_start_worker, initargs=(os.getpid(), job, done_bytes, done_records)) as pool:
        finished = pool.imap_unordered(_worker_part, parts)
        while True:
            try:
                finished.next(timeout=0.5)
            except multiprocessing.TimeoutError:
                pass
            except StopIteration:
                break
            poll()
        pool.close()
        pool.join()
    poll()


def _input_identity(input_path: str) -> dict:
    if is_url(input_path):
        return describe(input_path)
    return {"path": where(input_path), "size": os.path.getsize(input_path)}


def _plan(input_path: str, index: tuple[str, bytes] | None, part_bytes: int) -> list[Part]:
    if index is None or not index[0].endswith(".tbi"):
        if is_url(input_path):
            raise InputError(f"input: {input_path} has no tabix index beside it ({input_path}.tbi); a remote VCF "
                             "is read through its .tbi: name one with index=, or download the file")
        return [Part(0)]
    starts = read_tbi(index[1], index[0])
    # At least ~MIN_PARTS parts, so that a file smaller than a few parts still spreads over the workers; the
    # cut depends on the file alone, never on the number of workers.
    part_bytes = min(part_bytes, max((starts.end >> 16) // MIN_PARTS, 1 << 20))
    return [Part(k, begin, end) for k, (begin, end) in enumerate(cut(starts, part_bytes))]


def _merge(header: pysam.VariantHeader, filt: AlleleFilter, job: Job, parts: list[Part], tmp: str) -> None:
    """The output: the header, then every part's records in file order, one BGZF stream."""
    with pysam.BGZFile(tmp, "wb") as out:
        out.write(str(_output_header(header, filt)).encode())
    with open(tmp, "r+b") as out:
        out.seek(-len(EOF_BLOCK), os.SEEK_END)
        for part in parts:
            vcf, _ = _part_paths(job, part)
            with open(vcf, "rb") as src:
                size = os.fstat(src.fileno()).st_size - len(EOF_BLOCK)
                shutil.copyfileobj(_Limited(src, size), out, 1 << 20)
        out.write(EOF_BLOCK)
        out.truncate()


class _Limited:
    """The first ``size`` bytes of a file, for copying."""

    def __init__(self, f: BinaryIO, size: int) -> None:
        self.f, self.left = f, size

    def read(self, n: int) -> bytes:
        data = self.f.read(min(n, self.left))
        self.left -= len(data)
        return data


def prepare_vcf(
    input_path: str,
    output_path: str,
    filt: AlleleFilter,
    *,
    reference: str | None = None,
    ref_mismatch: str = "skip",
    key: str = "providers",
    workers: int = 1,
    part_mb: float = 64.0,
    work_root: str | None = None,
    show_progress: bool = False,
    index: str | None = None,
) -> dict:
    """Write the usable alleles of ``input_path`` (a path or a URL) to ``output_path`` (+ ``.tbi``);
    return the report.

    Parts are prepared by ``workers`` processes into a work directory under ``work_root`` (default:
    beside the output) named by everything the output depends on, so that rerunning a killed prepare
    resumes it; the output is written under a temporary name and renamed when complete, and the work
    directory removed. ``index`` names the input's tabix index (a path or a URL) where it is not beside
    the input. ``key`` is the config key of the filter's settings, for messages.
    """
    if not exists(input_path):
        raise InputError(f"input: file not found: {input_path}")
    if ref_mismatch not in REF_MISMATCH_POLICIES:
        raise ConfigError(f"ref_mismatch={ref_mismatch!r}: allowed values are {', '.join(REF_MISMATCH_POLICIES)}")
    if not output_path.endswith(".vcf.gz"):
        raise ConfigError(f"output={output_path}: must end in .vcf.gz")
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers={workers!r}: must be a whole number >= 1")
    if not part_mb > 0:
        raise ConfigError(f"part_mb={part_mb!r}: must be > 0")
    started = time.perf_counter()
    identity = _input_identity(input_path)
    if index is not None:
        if not exists(index):
            raise InputError(f"index: file not found: {index}")
        found: tuple[str, bytes] | None = (index, read_whole(index))
    else:
        found = find_index(input_path)
    if found is not None:
        identity["index"] = {"path": where(found[0]), "sha256": hashlib.sha256(found[1]).hexdigest()}
    parts = _plan(input_path, found, int(part_mb * (1 << 20)))
    depends = {"format": PART_FORMAT, "input": identity, "filter": filt.spec(), "ref_mismatch": ref_mismatch,
               "part_bytes": int(part_mb * (1 << 20)),
               # A URL's identity is its stamp already; a local file's adds its modification time.
               "stamp": None if is_url(input_path) else stamp(input_path),
               "reference": stamp(reference) if reference else None}
    work = Path(work_root or os.path.dirname(output_path)) / f"prepare-{digest(depends)[7:23]}"
    work.mkdir(parents=True, exist_ok=True)
    local_index = None
    if found is not None:  # handed to htslib, which would otherwise download a remote one to the working directory
        local_index = work / f"input{os.path.splitext(found[0])[1]}"
        local_index.write_bytes(found[1])
    try:
        with pysam.VariantFile(input_path, index_filename=str(local_index) if local_index else None) as src:
            header = src.header.copy()
        filt.check_header(header, input_path, key)
    except (OSError, ValueError, GenolewmError) as exc:
        if not any(work.glob("part-*.json")):
            shutil.rmtree(work, ignore_errors=True)
        if isinstance(exc, GenolewmError):
            raise
        raise InputError(f"input: cannot read VCF {input_path}: {exc}") from exc
    job = Job(input_path, header, filt, reference, ref_mismatch, work)
    todo = [p for p in parts if not _part_paths(job, p)[1].exists()]
    if len(todo) < len(parts):
        log.info("prepare: resuming from %s: %d of %d parts already done", work, len(parts) - len(todo), len(parts))
    total = sum(p.size for p in todo) or (0 if is_url(input_path) else os.path.getsize(input_path))
    records = [0]
    with progress(log, show_progress, "prepare", total, "B", 1e6) as update:
        def report(n_bytes: int, n_records: int) -> None:
            records[0] += n_records
            rate = records[0] / max(time.perf_counter() - started, 1e-9)
            update(n_bytes, f", {rate:,.0f} records/s")

        _run_parts(job, todo, workers, report)
    sums: dict = {"records_read": 0, "alleles_read": 0, "kept_by_contig": Counter(), "dropped": Counter()}
    for part in parts:
        counts = json.loads(_part_paths(job, part)[1].read_text())
        sums["records_read"] += counts["records_read"]
        sums["alleles_read"] += counts["alleles_read"]
        sums["kept_by_contig"].update(counts["kept_by_contig"])
        sums["dropped"].update(counts["dropped"])
    tmp = output_path[: -len(".vcf.gz")] + f".partial-{os.getpid()}.vcf.gz"
    try:
        _merge(header, filt, job, parts, tmp)
        pysam.tabix_index(tmp, preset="vcf", force=True)
        # The index first, so a complete-looking VCF always has its index.
        os.replace(tmp + ".tbi", output_path + ".tbi")
        os.replace(tmp, output_path)
    finally:
        for leftover in (tmp, tmp + ".tbi"):
            if os.path.exists(leftover):
                os.remove(leftover)
    shutil.rmtree(work, ignore_errors=True)
    return {
        "input": identity,
        "output": {"path": os.path.abspath(output_path), "sha256": file_sha256(output_path)},
        "filter": filt.spec(),
        "reference": where(reference) if reference else None,
        "parts": len(parts),
        "records_read": sums["records_read"],
        "alleles_read": sums["alleles_read"],
        "alleles_kept": sum(sums["kept_by_contig"].values()),
        "kept_by_contig": dict(sums["kept_by_contig"]),
        "dropped": dict(sorted(sums["dropped"].items())),
        "elapsed_s": round(time.perf_counter() - started, 3),
    }


def run(cfg: DictConfig, run_dir: str, show_progress: bool = True) -> dict:
    """Prepare the VCF a composed ``prepare`` config describes; write the report beside it."""
    if cfg.source == HAPLOTYPES:
        return _prepare_haplotypes(cfg, run_dir, show_progress)
    try:
        source = SOURCE_ALIASES.get(cfg.source, cfg.source)
        if source not in cfg.providers or "path" not in cfg.providers[source]:
            vcf_sources = [k for k, v in cfg.providers.items() if "path" in v]
            raise ConfigError(f"source={cfg.source}: allowed values are {', '.join(['gnomad'] + vcf_sources)}")
        filt = allele_filter(cfg.providers[source])
        input_path = where(str(cfg.input))
        output = cfg.output or str(Path(run_dir) / f"{cfg.source}.prepared.vcf.gz")
        reference = where(str(cfg.reference)) if cfg.reference else None
        ref_mismatch = cfg.ref_mismatch
        workers, part_mb, work_dir = cfg.workers, cfg.part_mb, str(cfg.work_dir)
        index = where(str(cfg.index)) if cfg.index else None
    except OmegaConfBaseException as exc:
        raise ConfigError(str(exc).splitlines()[0]) from exc
    report = prepare_vcf(input_path, os.path.abspath(output), filt, reference=reference, ref_mismatch=ref_mismatch,
                         key=f"providers.{source}", workers=workers, part_mb=part_mb,
                         work_root=os.path.abspath(work_dir), show_progress=show_progress, index=index)
    report["source"] = source
    report_path = Path(output[: -len(".vcf.gz")] + ".report.json")
    tmp = report_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, report_path)
    return report


def _prepare_haplotypes(cfg: DictConfig, run_dir: str, show_progress: bool) -> dict:
    """Convert a phased VCF into a haplotype store (`genolewm.providers.panel`)."""
    try:
        input_path = where(str(cfg.input))
        output = os.path.abspath(cfg.output or str(Path(run_dir) / "haplotypes.store"))
        work_dir = os.path.abspath(str(cfg.work_dir))
    except OmegaConfBaseException as exc:
        raise ConfigError(str(exc).splitlines()[0]) from exc
    os.makedirs(work_dir, exist_ok=True)
    meta = write_panel_store(input_path, output, show_progress=show_progress, work_root=work_dir)
    counts = meta["counts"]
    return {"source": HAPLOTYPES, "output": {"path": output}, "elapsed_s": meta["elapsed_s"],
            "samples": len(meta["samples"]), "records_read": counts["records"],
            "alleles_kept": counts["usable_alleles"], "carried": counts["carried"],
            "calls_not_used": counts["calls_not_used"]}


def _summary(report: dict) -> str:
    if report["source"] == HAPLOTYPES:
        dropped = ", ".join(f"{k} {v}" for k, v in report["calls_not_used"].items()) or "none"
        return (f"genolewm prepare -> {report['output']['path']}\n"
                f"  {report['samples']} samples, {report['records_read']} records, {report['alleles_kept']} usable "
                f"alleles, {report['carried']} carried on haplotypes ({report['elapsed_s']:.1f} s)\n"
                f"  calls not used: {dropped}")
    return (f"genolewm prepare -> {report['output']['path']}\n"
            f"  kept {report['alleles_kept']} of {report['alleles_read']} alleles ({report['records_read']} records, "
            f"{report['parts']} parts, {report['elapsed_s']:.1f} s)\n"
            f"  dropped " + ", ".join(f"{k} {v}" for k, v in report["dropped"].items()))


@hydra.main(version_base="1.3", config_path=PREPARE_CONFIG_PATH, config_name="prepare")
def _prepare(cfg: DictConfig) -> None:
    try:
        report = run(cfg, HydraConfig.get().runtime.output_dir)
    except GenolewmError as exc:
        log.error("%s", exc, extra=LOG_ONLY)
        raise Abort(exc) from exc
    log.info("%s", _summary(report))


def main() -> None:
    hydra_command(_prepare, "genolewm.prepare")


if __name__ == "__main__":
    main()
