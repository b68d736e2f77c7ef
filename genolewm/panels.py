"""Phased panels shaped like the 1000 Genomes 30x NYGC release
(``1kGP_high_coverage_Illumina.chr22.filtered.SNV_INDEL_SV_phased_panel.vcf.gz``): the demo's panel,
the tests' and the benchmark's.

Shapes kept from the real files: the header lines (``##fileformat=VCFv4.2``, contigs with lengths,
INFO ``AC``/``AN``/``AF`` and the super-population ``AF_*_unrel`` keys, FORMAT ``GT`` only), sample
names (``HG`` and ``NA`` followed by five digits; 3,202 of them in the release), one ALT per record
(the release splits multi-allelic sites), SNVs, short indels and symbolic structural variants
(``<DEL>``, ``<INS>`` with ``SVLEN``), ``chr``-prefixed contigs, and phased calls ``a|b`` for every
sample. Allele counts follow the site frequency spectrum of a grown population: the chance of ``k``
carriers among ``2n`` haplotypes falls as ``1/k**1.3``, steeper than the neutral ``1/k`` of a constant
one, so singletons are about a quarter of the records, and with 3,202 samples a haplotype carries the ALT
at about 1 record in 36. At the 30x release's density (about 27 records per kb on chr22) that is about
one ALT allele per kb per haplotype, as in real genomes (one differs from GRCh38 at 4 to 5 million
sites); the neutral spectrum would give three times as many. Optional
``oddities`` put the calls a phased panel can still hold (unphased, missing, half-missing, haploid,
an index past the ALTs) at a few places, for the tests of their counting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysam

SUPERPOPULATIONS = ("AFR", "AMR", "EAS", "EUR", "SAS")
ODDITIES = ("0/1", ".|.", ".|1", "1", "0|2")
_CALLS = np.array(["0|0", "0|1", "1|0", "1|1"])
SPECTRUM_EXPONENT = 1.3


def sample_names(n: int) -> list[str]:
    """``n`` sample names the way the release names them: HG00096 on, then NA06984 on."""
    half = (n + 1) // 2
    return [f"HG{96 + i:05d}" for i in range(half)] + [f"NA{6984 + i:05d}" for i in range(n - half)]


def header(chrom: str, length: int, samples: list[str]) -> str:
    lines = [
        "##fileformat=VCFv4.2",
        '##FILTER=<ID=PASS,Description="All filters passed">',
        f"##contig=<ID={chrom},length={length}>",
        '##ALT=<ID=DEL,Description="Deletion">',
        '##ALT=<ID=INS,Description="Insertion">',
        '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count in genotypes">',
        '##INFO=<ID=AN,Number=1,Type=Integer,Description="Total number of alleles in called genotypes">',
        '##INFO=<ID=AF,Number=A,Type=Float,Description="Allele Frequency">',
        *(f'##INFO=<ID=AF_{pop}_unrel,Number=A,Type=Float,Description="{pop} super-population allele '
          'frequency derived from unrelated samples">' for pop in SUPERPOPULATIONS),
        '##INFO=<ID=SVLEN,Number=.,Type=Integer,Description="Difference in length between REF and ALT alleles">',
        '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Type of structural variant">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Phased Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples),
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Panel:
    """A written panel: its path, sample names, and per record (in file order) the haplotypes carrying
    the ALT, as a ``[records, samples, 2]`` bool array (oddities not included)."""

    path: Path
    samples: list[str]
    carriers: np.ndarray


def write_panel(path: Path, sequence: str, *, chrom: str = "chr22", offset: int = 0, samples: int = 40,
                records: int = 400, seed: int = 0, oddities: bool = False, keep_carriers: bool = True) -> Panel:
    """A bgzipped, tabix-indexed panel of ``records`` records along ``sequence`` (placed at ``offset`` on
    ``chrom``; REF alleles are its bases) with ``samples`` samples; ``keep_carriers`` False leaves the
    panel's ``carriers`` None (a release-sized panel's would take hundreds of MB)."""
    rng = np.random.default_rng(seed)
    names = sample_names(samples)
    haplotypes = 2 * samples
    weights = 1.0 / np.arange(1, haplotypes) ** SPECTRUM_EXPONENT
    counts = rng.choice(np.arange(1, haplotypes), size=records, p=weights / weights.sum())
    # Records sit where the reference has bases (none in a gap), as in a real panel.
    allowed = np.flatnonzero(np.frombuffer(sequence[20 : len(sequence) - 40].encode(), np.uint8) != ord("N")) + 20
    positions = np.sort(rng.choice(allowed, size=records, replace=False))
    kinds = rng.choice(["snv", "ins", "del", "sv"], size=records, p=[0.86, 0.06, 0.06, 0.02])
    carriers = np.zeros((records, samples, 2), bool) if keep_carriers else None
    text = Path(path).with_suffix("")
    out = text.open("w")
    out.write(header(chrom, offset + len(sequence), names))
    for r, (pos, kind, k) in enumerate(zip(positions.tolist(), kinds.tolist(), counts.tolist())):
        ref = sequence[pos]
        info = ""
        if kind == "snv":
            alt = "ACGT"[("ACGT".index(ref) + 1 + int(rng.integers(3))) % 4]
        elif kind == "ins":
            alt = ref + "".join(rng.choice(list("ACGT"), size=int(rng.integers(1, 6))))
        elif kind == "del":
            ref = sequence[pos : pos + int(rng.integers(2, 8))]
            alt = ref[0]
        else:
            size = int(rng.integers(60, 5_000))
            alt = "<DEL>" if rng.random() < 0.5 else "<INS>"
            info = f";SVTYPE={alt[1:-1]};SVLEN={-size if alt == '<DEL>' else size}"
        hit = np.zeros(haplotypes, bool)
        hit[rng.choice(haplotypes, size=k, replace=False)] = True
        carried = hit.reshape(samples, 2)
        calls = _CALLS[carried[:, 0] * 2 + carried[:, 1]]
        if oddities and r % 25 == 0:
            calls = calls.copy()
            calls[: len(ODDITIES)] = ODDITIES[: samples]
            carried[: len(ODDITIES)] = False
        if carriers is not None:
            carriers[r] = carried
        pops = ";".join(f"AF_{pop}_unrel={rng.random() * 2 * k / haplotypes:.6f}" for pop in SUPERPOPULATIONS)
        out.write(f"{chrom}\t{offset + pos + 1}\t{chrom}:{offset + pos + 1}:{ref}:{alt}\t{ref}\t{alt}\t.\tPASS\t"
                     f"AC={k};AN={haplotypes};AF={k / haplotypes:.6f};{pops}{info}\tGT\t" + "\t".join(calls) + "\n")
    out.close()
    pysam.tabix_index(str(text), preset="vcf", force=True)
    return Panel(Path(f"{text}.gz"), names, carriers)
