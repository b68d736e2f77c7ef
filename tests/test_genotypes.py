"""Phased genotype calls read in bulk: the allele each haplotype carries, every call not used counted by reason."""

import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pysam
import pytest

from genolewm.arrow import column
from genolewm.providers.genotypes import GT_REASONS, phased_calls, phased_calls_of_lines

CASES = [  # (sample value, ALT alleles of the record, haplotype alleles, reason)
    ("0|1", 1, (0, 1), None),
    ("1|0:0.98:-2.1,-0.1,-3.0", 1, (1, 0), None),  # GT first, then DS and GL, as 1000 Genomes phase 1 writes
    ("1|1", 1, (1, 1), None),
    ("0|2", 2, (0, 2), None),  # the second ALT of a multi-allelic record
    ("2|3", 3, (2, 3), None),
    ("0/1", 1, None, "unphased"),
    ("./1", 1, None, "unphased"),
    (".|.", 1, None, "missing"),
    ("./.", 1, None, "missing"),
    (".", 1, None, "missing"),
    (".|1", 1, None, "half_missing"),
    ("1|.", 1, None, "half_missing"),
    ("1", 1, None, "haploid"),  # chrX of a male outside the PARs
    ("0", 1, None, "haploid"),
    ("1|1|0", 1, None, "not_a_genotype"),
    ("A|G", 1, None, "not_a_genotype"),
    ("", 1, None, "not_a_genotype"),
    ("0|99999", 1, None, "not_a_genotype"),
    ("0|2", 1, None, "allele_out_of_range"),
]


@pytest.mark.parametrize("value, n_alts, alleles, reason", CASES)
def test_each_call_is_used_or_counted_by_its_reason(value, n_alts, alleles, reason):
    calls = phased_calls([column([value], pa.string())], np.array([n_alts]))
    assert tuple(calls.alleles[0, 0].tolist()) == (alleles or (-1, -1))
    assert calls.reasons[0, 0] == (-1 if reason is None else GT_REASONS.index(reason))
    assert calls.counts() == ({} if reason is None else {reason: 1})


def test_reading_calls_imports_no_pandas():
    """pyarrow imports pandas (~0.3 s, ~40 MB) for a Python scalar in a compute call; the parser uses none."""
    import subprocess
    import sys

    pytest.importorskip("pandas")
    code = (
        "import sys, numpy as np, pyarrow as pa\n"
        "from genolewm.arrow import column\n"
        "from genolewm.providers.genotypes import phased_calls\n"
        f"values = column({[value for value, *_ in CASES]!r}, pa.string())\n"
        "calls = phased_calls([values], np.full(len(values), 2))\n"
        "assert calls.counts() and 'pandas' not in sys.modules, sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_samples_are_columns_and_records_rows():
    values = [column(["0|1", "1/1", "0|0"], pa.string()), column([".|.", "1|0", "0|1"], pa.string())]
    calls = phased_calls(values, np.array([1, 1, 1]))
    assert calls.alleles.shape == (3, 2, 2)
    assert calls.alleles[:, 0].tolist() == [[0, 1], [-1, -1], [0, 0]]
    assert calls.alleles[:, 1].tolist() == [[-1, -1], [1, 0], [0, 1]]
    assert calls.counts() == {"unphased": 1, "missing": 1}


def test_calls_agree_with_htslib(tmp_path):
    """A 1000 Genomes-shaped VCF (GT only, phased, with unphased, missing, half-missing, haploid and
    multi-allelic calls): the bulk reading gives each haplotype the allele htslib's parse gives it, and
    uses exactly the calls htslib reads as phased, diploid and fully called."""
    rng = random.Random(5)
    samples = [f"HG{n:05d}" for n in range(96, 116)] + [f"NA{n:05d}" for n in range(18486, 18496)]
    header = pysam.VariantHeader()
    header.add_line("##contig=<ID=chr22,length=50818468>")
    header.add_line('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    for s in samples:
        header.add_sample(s)
    path = tmp_path / "panel.vcf"
    shapes = ["{}|{}"] * 12 + ["{}/{}", ".|.", ".|{}", "{}|.", "{}", "./."]
    lines, n_alts = [], []
    for i in range(300):
        alts = rng.choice([1, 1, 1, 2, 3])
        n_alts.append(alts)
        calls = []
        for _ in samples:
            shape = rng.choice(shapes)
            calls.append(shape.format(*(rng.choice([0, 0, 0, 1, alts]) for _ in range(shape.count("{}")))))
        alt = ",".join("ACGT"[k] * 2 for k in range(alts))
        lines.append(f"chr22\t{16050000 + 7 * i}\trs{i}\tT\t{alt}\t.\tPASS\t.\tGT\t" + "\t".join(calls))
    path.write_text(str(header) + "\n".join(lines) + "\n")
    columns = list(zip(*(line.split("\t")[9:] for line in lines)))
    got = phased_calls([column(list(c), pa.string()) for c in columns], np.array(n_alts))
    with pysam.VariantFile(str(path)) as vf:
        for r, record in enumerate(vf):
            for s, sample in enumerate(samples):
                call = record.samples[sample]
                used = call.phased and len(call["GT"]) == 2 and None not in call["GT"]
                want = list(call["GT"]) if used else [-1, -1]
                assert got.alleles[r, s].tolist() == want, (r, sample, columns[s][r])
                assert (got.reasons[r, s] == -1) == used
    assert set(got.counts()) == {"unphased", "missing", "half_missing", "haploid"}


ONE_KG_CHR22 = Path(__file__).parent / "external" / "chr22.vcf.gz"


def test_1000_genomes_phase1_calls_agree_with_htslib():
    """The real 1000 Genomes phase 1 chr22 region (GT:DS:GL, 5 samples): every haplotype's allele is the
    one htslib reads, and every call is used."""
    if not ONE_KG_CHR22.is_file():
        pytest.skip("needs tests/external/chr22.vcf.gz: run `bash scripts/fetch-test-data.sh` (.ci/run does)")
    with pysam.TabixFile(str(ONE_KG_CHR22)) as tbx:
        lines = [line.split("\t") for line in tbx.fetch()]
    got = phased_calls([column(list(c), pa.string()) for c in zip(*(f[9:] for f in lines))],
                       np.array([len(f[4].split(",")) for f in lines]))
    with pysam.VariantFile(str(ONE_KG_CHR22)) as vf:
        samples = list(vf.header.samples)
        want = np.array([[record.samples[s]["GT"] for s in samples] for record in vf.fetch()])
    assert len(lines) == 10_376 and len(samples) == 5
    assert (got.alleles == want).all() and got.counts() == {}
    assert (got.alleles == 1).sum() == 2 * 1_428 + 2_099 + 1_618  # the 1|1, 1|0 and 0|1 calls


def test_panel_fixture_reads_back(tmp_path):
    """The 1000 Genomes-shaped panel generator: every call phased except the oddities, each counted by
    its reason; carriers as written; singletons the commonest (the neutral spectrum); htslib reads it."""
    from conftest import random_seq
    from genolewm.panels import ODDITIES, write_panel

    panel = write_panel(tmp_path / "panel.vcf.gz", random_seq(20_000, 3), samples=40, records=300,
                        oddities=True)
    with pysam.TabixFile(str(panel.path)) as tbx:
        lines = [line.split("\t") for line in tbx.fetch("chr22")]
    got = phased_calls([column(list(c), pa.string()) for c in zip(*(f[9:] for f in lines))],
                       np.array([1] * len(lines)))
    assert ((got.alleles == 1) == panel.carriers).all()
    odd = len(range(0, 300, 25))
    assert got.counts() == {"unphased": odd, "missing": odd, "half_missing": odd, "haploid": odd,
                            "allele_out_of_range": odd} and len(ODDITIES) == 5
    per_record = panel.carriers.sum(axis=(1, 2))
    histogram = np.bincount(per_record)
    assert histogram[1] == histogram[1:].max() and histogram[1] > 2 * histogram[2:6].mean()  # falls as 1/k
    with pysam.VariantFile(str(panel.path)) as vf:
        assert list(vf.header.samples)[:2] == ["HG00096", "HG00097"] and len(vf.header.samples) == 40
        assert sum(1 for record in vf if "SVTYPE" in record.info) > 0


def _columns(lines):
    return [column(list(c), pa.string()) for c in zip(*(line.decode().split("\t")[9:] for line in lines))]


@pytest.mark.parametrize("oddities", [False, True])
def test_panel_lines_read_as_a_matrix_equal_the_column_reading(tmp_path, oddities):
    """Lines of one-digit phased calls are read as a byte matrix; lines with other calls, other FORMAT
    keys or too few columns go the column way; together they give what the column reading gives."""
    from conftest import random_seq
    from genolewm.panels import write_panel

    panel = write_panel(tmp_path / "panel.vcf.gz", random_seq(20_000, 4), samples=200, records=150,
                        oddities=oddities)
    with pysam.TabixFile(str(panel.path)) as tbx:
        lines = [line.encode() for line in tbx.fetch("chr22")]
    lines[7] = lines[7].replace(b"\tGT\t", b"\tGT:DS\t", 1).replace(b"\t0|0", b"\t0|0:0.0", 1)
    n_alts = np.array([1] * len(lines))
    n_alts[9] = 0  # an ALT of "." : every carried allele is out of range
    got = phased_calls_of_lines(lines + [b"chr22\t1\t.\tA\tG\t.\tPASS\t.\tGT\t0|1"], 200,
                                np.append(n_alts, 1))
    want = phased_calls(_columns(lines), n_alts)
    assert (got.alleles[:-1] == want.alleles).all() and (got.reasons[:-1] == want.reasons).all()
    assert got.alleles[-1, 0].tolist() == [0, 1] and (got.reasons[-1, 1:] == GT_REASONS.index("not_a_genotype")).all()
    assert ((got.alleles[:-1] == 1) == (panel.carriers & (np.arange(len(lines)) != 9)[:, None, None])).all()


def test_1000_genomes_phase1_lines_equal_the_column_reading():
    """GT:DS:GL lines, as phase 1 writes them, all go the column way."""
    if not ONE_KG_CHR22.is_file():
        pytest.skip("needs tests/external/chr22.vcf.gz: run `bash scripts/fetch-test-data.sh` (.ci/run does)")
    with pysam.TabixFile(str(ONE_KG_CHR22)) as tbx:
        lines = [line.encode() for line in tbx.fetch()][:2_000]
    n_alts = np.array([len(line.split(b"\t")[4].split(b",")) for line in lines])
    got, want = phased_calls_of_lines(lines, 5, n_alts), phased_calls(_columns(lines), n_alts)
    assert (got.alleles == want.alleles).all() and (got.reasons == want.reasons).all()
