"""The prepare step: release-style VCF in, compact indexed VCF out, same tuples as the raw file."""

import filecmp
import gzip
import json
import subprocess
import sys

import pysam
import pytest

from genolewm.build import run
from genolewm.demo import DEMO_DIR
from genolewm.errors import InputError
from genolewm.prepare import allele_filter, prepare_vcf

from conftest import random_seq, write_fasta, write_vcf

GNOMAD_FILTER = {"af_field": "AF", "min_af": 0.01, "pass_only": True, "max_allele_len": 16}
CLINVAR_FILTER = {"clnsig": ["Pathogenic", "Likely_pathogenic", "Pathogenic/Likely_pathogenic"],
                  "pass_only": True, "max_allele_len": 16}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared")
    reports = {}
    for name, filt in (("gnomad", GNOMAD_FILTER), ("clinvar", CLINVAR_FILTER)):
        reports[name] = prepare_vcf(str(DEMO_DIR / f"{name}.vcf.gz"), str(out / f"{name}.prepared.vcf.gz"),
                                    allele_filter(filt), reference=str(DEMO_DIR / "ref.fa"))
    return out, reports


def test_report_accounts_for_every_allele(prepared):
    out, reports = prepared
    for name, report in reports.items():
        assert report["alleles_kept"] + sum(report["dropped"].values()) == report["alleles_read"]
        assert report["alleles_kept"] == sum(report["kept_by_contig"].values()) > 0
        with pysam.VariantFile(str(out / f"{name}.prepared.vcf.gz")) as vf:
            recs = list(vf)
            assert len(recs) == report["alleles_kept"]
            assert all(len(r.alts) == 1 and set(r.ref + r.alts[0]) <= set("ACGT") for r in recs)
            assert list(vf.fetch("chr8", 0, 50_000))  # indexed
    assert set(reports["gnomad"]["dropped"]) >= {"af_below_min", "not_pass", "symbolic", "too_long",
                                                  "spanning_deletion", "af_missing"}
    assert "clnsig_not_selected" in reports["clinvar"]["dropped"]


def test_build_from_prepared_equals_build_from_raw(prepared, compose_cfg, tmp_path):
    out, _ = prepared
    raw = tmp_path / "raw"
    run(compose_cfg(["holdout=rfc", "mix=multi"]), str(raw), progress=False)
    small = tmp_path / "small"
    run(compose_cfg(["holdout=rfc", "mix=multi", f"paths.gnomad={out / 'gnomad.prepared.vcf.gz'}",
                     f"paths.clinvar={out / 'clinvar.prepared.vcf.gz'}"]), str(small), progress=False)
    for table in ("windows", "tuples"):
        assert filecmp.cmp(raw / table / "part-00000.parquet", small / table / "part-00000.parquet", shallow=False)


def test_release_style_info_and_ref_checks(tmp_path):
    genome = random_seq(5_000, 31)
    fasta = write_fasta(tmp_path / "ref.fa", {"chr2": genome})
    info = ['##INFO=<ID=AC,Number=A,Type=Integer,Description="count">',
            '##INFO=<ID=AF_joint,Number=A,Type=Float,Description="joint AF">',
            '##INFO=<ID=vep,Number=.,Type=String,Description="annotation">']
    other = {"A": "C", "C": "G", "G": "T", "T": "A"}
    rows = [f"chr2\t{p + 1}\t.\t{genome[p]}\t{other[genome[p]]},{other[other[genome[p]]]}\t.\tPASS\t"
            f"AC=3,1;AF_joint=0.2,0.001;vep=missense|x,synonymous|y" for p in range(100, 4_900, 100)]
    rows.append(f"chr2\t4950\t.\t{other[genome[4949]]}\tA\t.\tPASS\tAC=1;AF_joint=0.5;vep=z")  # wrong REF
    vcf = write_vcf(tmp_path / "release.vcf", {"chr2": 5_000}, rows, info_lines=info)
    filt = allele_filter({"af_field": "AF_joint", "min_af": 0.01})
    report = prepare_vcf(vcf, str(tmp_path / "out.vcf.gz"), filt, reference=fasta)
    assert report["alleles_kept"] == 48 and report["dropped"] == {"af_below_min": 48, "ref_mismatch": 1}
    with pysam.VariantFile(str(tmp_path / "out.vcf.gz")) as vf:
        assert list(vf.header.info) == ["AF_joint"]
        assert all(abs(r.info["AF_joint"][0] - 0.2) < 1e-6 for r in vf)
    with pytest.raises(InputError, match=r"record chr2:4950:.*REF does not match"):
        prepare_vcf(vcf, str(tmp_path / "strict.vcf.gz"), filt, reference=fasta, ref_mismatch="error")
    assert not list(tmp_path.glob("strict*"))


@pytest.mark.slow
def test_prepare_cli(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "genolewm.prepare", "source=clinvar", f"input={DEMO_DIR / 'clinvar.vcf.gz'}",
         f"hydra.run.dir={tmp_path}"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "clinvar.prepared.report.json").read_text())
    assert report["source"] == "clinvar" and report["alleles_kept"] > 0
    assert (tmp_path / "clinvar.prepared.vcf.gz.tbi").is_file()
    with gzip.open(tmp_path / "clinvar.prepared.vcf.gz", "rt") as fh:
        assert all("CLNSIG=" in line for line in fh if not line.startswith("#"))
    bad = subprocess.run([sys.executable, "-m", "genolewm.prepare", "source=dbsnp", "input=x.vcf",
                          f"hydra.run.dir={tmp_path / 'bad'}"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "genolewm.prepare: error: source=dbsnp: allowed values are gnomad, gnomad_common, clinvar")


def test_prepare_has_its_own_config(tmp_path):
    """The README's command as written (output= sets a key, not a build group), and a help of its own."""
    out = subprocess.run([sys.executable, "-m", "genolewm.prepare", "source=clinvar",
                          f"input={DEMO_DIR / 'clinvar.vcf.gz'}", f"output={tmp_path / 'clinvar.prepared.vcf.gz'}",
                          f"hydra.run.dir={tmp_path / 'run'}"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "clinvar.prepared.vcf.gz").is_file() and (tmp_path / "clinvar.prepared.report.json").is_file()
    assert "genolewm prepare -> " in out.stdout and "genolewm prepare -> " in (tmp_path / "run" / "prepare.log").read_text()
    helped = subprocess.run([sys.executable, "-m", "genolewm.prepare", "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "source  input  index  output  reference" in helped.stdout
    assert "windows:" not in helped.stdout and "mix:" not in helped.stdout and "holdout:" not in helped.stdout
