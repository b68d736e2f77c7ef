"""The committed demo data is exactly what `python -m genolewm.demo` generates."""

import gzip

from genolewm.demo import DEMO_DIR, write_demo


def test_demo_data_regenerates_identically(tmp_path):
    write_demo(tmp_path)
    for name in ("ref.fa", "ref.fa.fai", "holdout.bed", "holdout_keys.txt", "corpus.fa", "regions.bed"):
        assert (tmp_path / name).read_bytes() == (DEMO_DIR / name).read_bytes(), name
    for name in ("gnomad.vcf.gz", "clinvar.vcf.gz"):
        fresh = gzip.decompress((tmp_path / name).read_bytes())
        assert fresh == gzip.decompress((DEMO_DIR / name).read_bytes()), name
        assert (DEMO_DIR / (name + ".tbi")).is_file()


def test_demo_data_has_the_awkward_cases():
    text = gzip.decompress((DEMO_DIR / "gnomad.vcf.gz").read_bytes()).decode()
    records = [line.split("\t") for line in text.splitlines() if not line.startswith("#")]
    alts = [r[4] for r in records]
    assert any("," in a for a in alts) and "<DEL>" in alts and any(a.endswith(",*") for a in alts)
    assert any(len(r[3]) > 16 for r in records)
    assert any(r[6] != "PASS" for r in records)
    assert any(r[7] == "AF=." for r in records)
    fasta = (DEMO_DIR / "ref.fa").read_text()
    assert "N" * 60 in fasta and any(c.islower() for c in fasta)
    assert {line[1:].split()[0] for line in fasta.splitlines() if line.startswith(">")} >= {"chr1", "chr8", "chr21"}
    assert sum(p.stat().st_size for p in DEMO_DIR.iterdir()) < 3_000_000
