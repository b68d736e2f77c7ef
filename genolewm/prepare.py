"""``python -m genolewm.prepare source=gnomad input=PATH``: shrink a release VCF to what the builder uses.

Streams a raw VCF (bgzipped or plain, any size) once and writes a
bgzipped, tabix-indexed VCF holding only the alleles the source's filter
(``providers.<source>`` in the build config) accepts, one ALT allele per
line with its own INFO value as written in the input, plus a JSON report of
what was kept and dropped by reason. Memory stays flat: records are decoded
a batch at a time, with the builder's own decoder and filter.
Build configs point at the output (``paths.gnomad=.../gnomad.prepared.vcf.gz``).
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import time
from collections import Counter
from pathlib import Path
from typing import BinaryIO, Iterator

import hydra
import pysam
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from .config import PREPARE_CONFIG_PATH, hydra_command
from .contigs import ContigNames
from .errors import Abort, ConfigError, GenolewmError, InputError
from .logs import LOG_ONLY
from .providers import REF_MISMATCH_POLICIES, AlleleFilter
from .providers.filters import FILTER_SETTINGS
from .providers.records import header_layout, line_blocks, record_batches
from .providers.vcf import is_gzip
from .store import file_sha256

log = logging.getLogger("genolewm.prepare")  # not __main__ when run with python -m

# Short names users type for the VCF sources of the default providers.
SOURCE_ALIASES = {"gnomad": "gnomad_common"}


def allele_filter(settings) -> AlleleFilter:
    """The :class:`AlleleFilter` of one provider's config node."""
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


def _copy_alleles(input_path: str, header: pysam.VariantHeader, out, filt: AlleleFilter,
                  check: _RefCheck) -> tuple[int, int, Counter, Counter]:
    """Write each usable allele of ``input_path`` as its own record; return (records, alleles, kept per
    contig, dropped alleles by reason)."""
    records = alleles = 0
    kept: Counter = Counter()
    dropped: Counter = Counter()
    info_fields = filt.info_fields()
    # One ALT per output line: per-allele (Number=A) values keep this allele's.
    per_allele = {name: header.info[name].number == "A" for name in info_fields}
    n_columns, info_lists = header_layout(header, info_fields)
    ref_reason = check.reason if check.fasta is not None else None
    opener = gzip.open if is_gzip(input_path) else open
    with opener(input_path, "rb") as handle:
        for batch in record_batches(_body(handle), n_columns, info_lists, input_path):
            records += len(batch.records)
            alleles += len(batch)
            reasons = filt.reasons(batch)
            cols = {c: batch.column(c).to_pylist() for c in ("CHROM", "POS", "ID", "FILTER")}
            info = {name: batch.info_raw(name).to_pylist() for name in info_fields}
            refs, alts = batch.ref.to_pylist(), batch.alt.to_pylist()
            lines = []
            for row, reason in enumerate(reasons.tolist()):
                rec, ref, alt = int(batch.rec[row]), refs[row], alts[row]
                chrom = cols["CHROM"][rec]
                if reason is None and ref_reason is not None:
                    reason = ref_reason(chrom, int(batch.start[row]), ref, alt)
                if reason is not None:
                    dropped[reason] += 1
                    continue
                values = []
                for name in info_fields:
                    value = info[name][rec]
                    if value is not None:
                        value = value.split(",")[int(batch.index[row])] if per_allele[name] else value
                        values.append(f"{name}={value}")
                lines.append(f"{chrom}\t{cols['POS'][rec]}\t{cols['ID'][rec]}\t{ref}\t{alt}\t.\t"
                             f"{cols['FILTER'][rec]}\t{';'.join(values) or '.'}\n")
                kept[chrom] += 1
            out.write("".join(lines).encode())
    return records, alleles, kept, dropped


def prepare_vcf(
    input_path: str,
    output_path: str,
    filt: AlleleFilter,
    *,
    reference: str | None = None,
    ref_mismatch: str = "skip",
    key: str = "providers",
) -> dict:
    """Write the usable alleles of ``input_path`` to ``output_path`` (+ ``.tbi``); return the report.

    Files are written under temporary names and renamed when complete. ``key`` is the config key of the
    filter's settings, for messages.
    """
    if not os.path.isfile(input_path):
        raise InputError(f"input: file not found: {input_path}")
    if ref_mismatch not in REF_MISMATCH_POLICIES:
        raise ConfigError(f"ref_mismatch={ref_mismatch!r}: allowed values are {', '.join(REF_MISMATCH_POLICIES)}")
    if not output_path.endswith(".vcf.gz"):
        raise ConfigError(f"output={output_path}: must end in .vcf.gz")
    started = time.perf_counter()
    tmp = output_path[: -len(".vcf.gz")] + ".partial.vcf.gz"
    check = _RefCheck(reference, ref_mismatch, input_path)
    try:
        try:
            with pysam.VariantFile(input_path) as src:
                header = src.header.copy()
        except (OSError, ValueError) as exc:
            raise InputError(f"input: cannot read VCF {input_path}: {exc}") from exc
        filt.check_header(header, input_path, key)
        with pysam.BGZFile(tmp, "wb") as out:
            out.write(str(_output_header(header, filt)).encode())
            records, alleles, kept, dropped = _copy_alleles(input_path, header, out, filt, check)
        pysam.tabix_index(tmp, preset="vcf", force=True)
        # The index first, so a complete-looking VCF always has its index.
        os.replace(tmp + ".tbi", output_path + ".tbi")
        os.replace(tmp, output_path)
    except BaseException:
        for leftover in (tmp, tmp + ".tbi"):
            if os.path.exists(leftover):
                os.remove(leftover)
        raise
    finally:
        check.close()
    return {
        "input": {"path": os.path.abspath(input_path), "size": os.path.getsize(input_path)},
        "output": {"path": os.path.abspath(output_path), "sha256": file_sha256(output_path)},
        "filter": filt.spec(),
        "reference": os.path.abspath(reference) if reference else None,
        "records_read": records,
        "alleles_read": alleles,
        "alleles_kept": sum(kept.values()),
        "kept_by_contig": dict(kept),
        "dropped": dict(sorted(dropped.items())),
        "elapsed_s": round(time.perf_counter() - started, 3),
    }


def run(cfg: DictConfig, run_dir: str) -> dict:
    """Prepare the VCF a composed ``prepare`` config describes; write the report beside it."""
    try:
        source = SOURCE_ALIASES.get(cfg.source, cfg.source)
        if source not in cfg.providers or "path" not in cfg.providers[source]:
            vcf_sources = [k for k, v in cfg.providers.items() if "path" in v]
            raise ConfigError(f"source={cfg.source}: allowed values are {', '.join(['gnomad'] + vcf_sources)}")
        filt = allele_filter(cfg.providers[source])
        input_path = os.path.abspath(str(cfg.input))
        output = cfg.output or str(Path(run_dir) / f"{cfg.source}.prepared.vcf.gz")
        reference = os.path.abspath(str(cfg.reference)) if cfg.reference else None
        ref_mismatch = cfg.ref_mismatch
    except OmegaConfBaseException as exc:
        raise ConfigError(str(exc).splitlines()[0]) from exc
    report = prepare_vcf(input_path, os.path.abspath(output), filt, reference=reference, ref_mismatch=ref_mismatch,
                         key=f"providers.{source}")
    report["source"] = source
    report_path = Path(output[: -len(".vcf.gz")] + ".report.json")
    tmp = report_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, report_path)
    return report


@hydra.main(version_base="1.3", config_path=PREPARE_CONFIG_PATH, config_name="prepare")
def _prepare(cfg: DictConfig) -> None:
    try:
        report = run(cfg, HydraConfig.get().runtime.output_dir)
    except GenolewmError as exc:
        log.error("%s", exc, extra=LOG_ONLY)
        raise Abort(exc) from exc
    log.info(
        f"genolewm prepare -> {report['output']['path']}\n"
        f"  kept {report['alleles_kept']} of {report['alleles_read']} alleles ({report['records_read']} records)\n"
        f"  dropped " + ", ".join(f"{k} {v}" for k, v in report["dropped"].items())
    )


def main() -> None:
    hydra_command(_prepare, "genolewm.prepare")


if __name__ == "__main__":
    main()
