"""The bundled demo data set, and the script that generates it.

``python -m genolewm.demo [OUTDIR]`` rewrites it (default: the package's
``demo_data/``) deterministically: a small GRCh38-named reference with an
assembly gap and soft-masked repeats, a gnomAD-like VCF (INFO AF) and a
ClinVar-like VCF (INFO CLNSIG) whose REF alleles match the reference, both
bgzipped and tabix-indexed, a holdout BED, a held-out variant-key list and an
unplaced sequence corpus, and a phased panel of 40 samples on chr21
(`genolewm.panels`) with the haplotype store made from it. The VCFs include the awkward records real releases
have: multi-allelic sites, indels, an allele over 16 bp, a symbolic allele, a
spanning deletion, a missing AF and non-PASS records.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from random import Random

import pysam

from .panels import write_panel
from .providers.panel import write_panel_store

DEMO_DIR = Path(__file__).resolve().parent / "demo_data"
CONTIGS = {"chr1": 240_000, "chr8": 160_000, "chr21": 120_000, "chrUn_KI270742v1": 6_000}
CLNSIG = (
    "Pathogenic", "Likely_pathogenic", "Pathogenic/Likely_pathogenic", "Benign", "Likely_benign",
    "Uncertain_significance", "Conflicting_classifications_of_pathogenicity", "Pathogenic|drug_response",
)


def demo_path(name: str) -> str:
    """Absolute path of a bundled demo file (used by the ``genolewm.demo`` config resolver)."""
    return str(DEMO_DIR / name)


def _reference(rng: Random) -> dict[str, str]:
    seqs = {}
    for chrom, n in CONTIGS.items():
        bases = [rng.choice("ACGT") for _ in range(n)]
        if chrom == "chr1":
            bases[100_000:130_000] = "N" * 30_000  # an assembly gap: whole windows of N
        if chrom == "chr21":
            bases[60_000:62_000] = "N" * 2_000  # a short gap inside otherwise usable windows
        for _ in range(n // 40_000):
            start = rng.randrange(0, n - 3_000)
            bases[start : start + 3_000] = [b.lower() for b in bases[start : start + 3_000]]  # soft-masked repeat
        seqs[chrom] = "".join(bases)
    return seqs


def _vcf_header(info_line: str) -> str:
    lines = ["##fileformat=VCFv4.2"]
    lines += [f"##contig=<ID={c},length={n}>" for c, n in CONTIGS.items()]
    lines += [
        '##FILTER=<ID=PASS,Description="All filters passed">',
        '##FILTER=<ID=AC0,Description="Allele count is zero after filtering">',
        '##ALT=<ID=DEL,Description="Deletion">',
        info_line,
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    return "\n".join(lines) + "\n"


def _records(rng: Random, seqs: dict[str, str], mean_gap: int, info, keys: list[str]) -> list[str]:
    rows = []
    for chrom, seq in seqs.items():
        upper = seq.upper()
        pos = 300  # 1-based VCF position
        while True:
            pos += rng.randint(1, 2 * mean_gap)
            if pos + 80 >= len(seq):
                break
            anchor = upper[pos - 1]
            if anchor == "N":
                continue
            kind = rng.random()
            filt = "AC0" if rng.random() < 0.03 else "PASS"
            if kind < 0.70:
                alts = [b for b in "ACGT" if b != anchor]
                rng.shuffle(alts)
                ref, alt = anchor, alts[: 2 if rng.random() < 0.08 else 1]
            elif kind < 0.80:
                k = rng.randint(1, 12)
                ref, alt = upper[pos - 1 : pos + k], [anchor]
            elif kind < 0.90:
                ref, alt = anchor, [anchor + "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 12)))]
            elif kind < 0.93:
                ref, alt = anchor, ["<DEL>"]
            elif kind < 0.96:
                ref, alt = anchor, [rng.choice([b for b in "ACGT" if b != anchor]), "*"]
            elif kind < 0.98:
                k = rng.randint(20, 40)  # longer than the 16-base allele limit
                ref, alt = upper[pos - 1 : pos + k], [anchor]
            else:
                ref, alt = upper[pos - 1 : pos + 2], [upper[pos - 1 : pos + 2][::-1]]  # MNV or complex
                if ref == alt[0]:
                    continue
            if "N" in ref:
                continue
            rows.append(f"{chrom}\t{pos}\t.\t{ref}\t{','.join(alt)}\t.\t{filt}\t{info(len(alt))}")
            keys.extend(f"{chrom}:{pos}:{ref}:{a}" for a in alt if a[0] != "<" and a != "*")
            pos += len(ref)
    return rows


def _write_vcf(path: Path, header: str, rows: list[str]) -> None:
    path.write_text(header + "\n".join(rows) + "\n")
    pysam.tabix_index(str(path), preset="vcf", force=True)


def write_demo(outdir: str | os.PathLike, seed: int = 20240601) -> None:
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    rng = Random(seed)
    seqs = _reference(rng)
    with open(out / "ref.fa", "w") as fa:
        for chrom, seq in seqs.items():
            fa.write(f">{chrom} demo\n")
            fa.writelines(seq[i : i + 60] + "\n" for i in range(0, len(seq), 60))
    pysam.faidx(str(out / "ref.fa"))

    def af(n: int) -> str:
        if rng.random() < 0.02:
            return "AF=."
        return "AF=" + ",".join(rng.choice(["0.0003", "0.004", "0.012", "0.08", "0.31"]) for _ in range(n))

    gnomad_keys: list[str] = []
    rows = _records(rng, seqs, 60, af, gnomad_keys)
    _write_vcf(out / "gnomad.vcf", _vcf_header(
        '##INFO=<ID=AF,Number=A,Type=Float,Description="Alternate allele frequency">'), rows)

    clinvar_keys: list[str] = []
    rows = _records(rng, seqs, 1_500, lambda n: "CLNSIG=" + rng.choice(CLNSIG), clinvar_keys)
    _write_vcf(out / "clinvar.vcf", _vcf_header(
        '##INFO=<ID=CLNSIG,Number=.,Type=String,Description="Clinical significance">'), rows)

    (out / "holdout.bed").write_text("chr1\t20000\t30000\nchr1\t170000\t171000\nchr8\t5000\t9000\n")
    # Regions for windows=regions: two that overlap (merged), one too short for a window.
    (out / "regions.bed").write_text("chr1\t40000\t60000\nchr1\t55000\t70000\nchr1\t100000\t113000\n"
                                     "chr8\t1000\t2000\nchr21\t10000\t30000\n")
    chr1_keys = [k for k in gnomad_keys + clinvar_keys if k.startswith("chr1:")]
    (out / "holdout_keys.txt").write_text("\n".join(rng.sample(chr1_keys, 60)) + "\n")

    with open(out / "corpus.fa", "w") as fa:
        for i, n in enumerate((40_000, 26_000, 18_000, 9_000)):
            seq = "".join(rng.choice("ACGT") for _ in range(n))
            fa.write(f">carbon_{i:03d} source={'carbon' if i % 2 == 0 else 'phage'}\n")
            fa.writelines(seq[j : j + 60] + "\n" for j in range(0, n, 60))

    # Its REF alleles are the reference's bases: those in chr21's gap are N, which builds count and skip.
    write_panel(out / "panel.vcf.gz", seqs["chr21"].upper(), chrom="chr21", samples=40, records=600,
                seed=seed, oddities=True, keep_carriers=False)
    shutil.rmtree(out / "panel.haplotypes", ignore_errors=True)
    write_panel_store(str(out / "panel.vcf.gz"), str(out / "panel.haplotypes"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", nargs="?", default=str(DEMO_DIR))
    write_demo(parser.parse_args(argv).outdir)


if __name__ == "__main__":
    main()
