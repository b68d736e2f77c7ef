"""Haplotype actions: a phased panel converted into a store, one drawn haplotype's alleles in a window as one
tuple, every call and allele not used counted, and the audit re-deriving each tuple from the VCF."""

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pysam
import pytest

from genolewm.audit.checks import HaplotypeSource
from genolewm.builder import TupleBuilder, TupleSettings
from genolewm.errors import ConfigError, InputError, ShortfallError
from genolewm.holdout import HoldoutPolicy
from genolewm.providers import HaplotypeProvider, PanelStore, SyntheticSnv, write_panel_store
from genolewm.streams import Stream
from genolewm.windows import ReferenceWindows
from genolewm.panels import header, sample_names, write_panel

SAMPLES = sample_names(6)  # HG00096, HG00097, HG00098, NA06984, NA06985, NA06986
OTHER = "0|0\t" * 5


def _reference(tmp_path: Path, length: int = 3_000, seed: int = 7) -> tuple[Path, str]:
    rng = random.Random(seed)
    sequence = "".join(rng.choice("ACGT") for _ in range(length))
    fasta = tmp_path / "ref.fa"
    fasta.write_text(">chr22\n" + "\n".join(sequence[i : i + 60] for i in range(0, length, 60)) + "\n")
    pysam.faidx(str(fasta))
    return fasta, sequence


def _other(base: str) -> str:
    return "ACGT"[("ACGT".index(base) + 1) % 4]


def _edge_panel(tmp_path: Path) -> tuple[Path, Path, str]:
    """A panel with every shape a haplotype source must handle, for the first sample's two haplotypes:
    a multi-allelic record, a deletion and an SNV inside it, a symbolic allele, a too-long insertion, a
    spanning deletion, a REF that disagrees with the reference, and the calls a panel may hold that are
    not phased diploid calls (the other samples of the first record)."""
    fasta, seq = _reference(tmp_path)

    def ref(pos: int, n: int = 1) -> str:
        return seq[pos - 1 : pos - 1 + n]

    s = ref
    records = [  # POS, REF, ALT, INFO, calls of HG00096 then the five others
        (200, s(200), f"{_other(s(200))},{_other(_other(s(200)))}", "AC=2,1;AN=10;AF=0.2,0.1",
         ["0|2", "2|1", "0/1", ".|.", ".|1", "1"]),
        (300, s(300, 5), s(300), "AC=1;AN=12;AF=0.08", ["1|0"] + ["0|0"] * 5),
        (302, s(302), _other(s(302)), "AC=2;AN=12;AF=0.17", ["1|1"] + ["0|0"] * 5),
        (400, s(400), "<DEL>", "AC=2;AN=12;AF=0.17;SVTYPE=DEL;SVLEN=-300", ["1|1"] + ["0|0"] * 5),
        (500, s(500), s(500) + "ACGTACGTACGTACGTACGT", "AC=1;AN=12;AF=0.08", ["0|1"] + ["0|0"] * 5),
        (600, s(600), "*", "AC=1;AN=12;AF=0.08", ["1|0"] + ["0|0"] * 5),
        (700, _other(s(700)), s(700), "AC=1;AN=12;AF=0.08", ["1|0"] + ["0|0"] * 5),
        (800, s(800), _other(s(800)), "AC=2;AN=12;AF=0.17", ["1|1"] + ["0|0"] * 5),
        (1500, s(1500), _other(s(1500)), "AC=1;AN=12;AF=0.08", ["0|0", "0|1"] + ["0|0"] * 4),
    ]
    body = "".join(f"chr22\t{pos}\t.\t{r}\t{a}\t.\tPASS\t{info}\tGT\t" + "\t".join(calls) + "\n"
                   for pos, r, a, info, calls in records)
    plain = tmp_path / "panel.vcf"
    plain.write_text(header("chr22", len(seq), SAMPLES) + body)
    path = pysam.tabix_index(str(plain), preset="vcf", force=True)
    return Path(path), fasta, seq


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("edge")
    vcf, fasta, seq = _edge_panel(tmp)
    meta = write_panel_store(str(vcf), str(tmp / "store"))
    return vcf, fasta, seq, tmp / "store", meta


def _draws(provider, window, seed_range=range(40), edge_margin=64, **kw):
    """What the provider draws for ``window`` from many streams: carrier -> (edits, skipped)."""
    provider.prepare([window], edge_margin=edge_margin)
    out = {}
    for key in seed_range:
        got = provider.draw(window, Stream(key), 32, edge_margin=edge_margin, **kw)
        out.setdefault(got.carrier, ([(e.rel_pos, e.ref, e.alt) for e in got.edits], dict(got.skipped)))
    return out


def test_store_counts_every_call_not_used_and_keeps_only_usable_alleles(edge):
    _, _, seq, store_dir, meta = edge
    assert meta["counts"]["calls_not_used"] == {"unphased": 1, "missing": 1, "half_missing": 1, "haploid": 1}
    store = PanelStore.open(store_dir)
    assert store.samples == SAMPLES
    # Two ALTs of the first record, the deletion, three SNVs: the symbolic, too-long and * alleles are not usable
    # (the sites file keeps them, for the build to count); the REF that disagrees is still usable here.
    assert store.start.tolist() == [199, 199, 299, 301, 699, 799, 1499]
    # Haplotype 0 of HG00096 ("0|2", "1|0", "1|1", ..., "1|0" at 700, "1|1" at 800) carries the deletion, the SNV
    # inside it, the REF-mismatch SNV and the SNV at 800; haplotype 1 the second ALT at 200, the SNV at 302, 800.
    def carried(h):
        return store.carried_in(h, 0, len(store.start)).tolist()

    assert carried(0) == [2, 3, 4, 5] and carried(1) == [1, 3, 5]
    # HG00097 "2|1": haplotype 0 the second ALT, haplotype 1 the first; "0|1" at 1500.
    assert carried(2) == [1] and carried(3) == [0, 6]
    assert store.carried_in(3, 1, 6).tolist() == [] and store.carried_in(3, 6, 7).tolist() == [6]


def test_one_draw_is_one_haplotypes_eligible_alleles_first_of_overlapping_ones_kept(edge):
    _, fasta, seq, store_dir, _ = edge
    windows = ReferenceWindows(fasta=str(fasta), window_bp=1_000, stride_bp=1_000, margin_bp=0)
    window = windows.window_at(0)
    provider = HaplotypeProvider(str(store_dir), samples=["HG00096"])
    got = _draws(provider, window)
    assert set(got) == {("HG00096", 0), ("HG00096", 1)}
    alt2 = _other(_other(seq[199]))
    edits0, skipped0 = got[("HG00096", 0)]
    # The deletion at 300 wins over the SNV at 302 inside it; the REF-mismatch SNV at 700 is not eligible.
    assert edits0 == [(299, seq[299:304], seq[299]), (799, seq[799], _other(seq[799]))]
    assert skipped0 == {"overlaps_on_haplotype": 1}
    edits1, skipped1 = got[("HG00096", 1)]
    assert edits1 == [(199, seq[199], alt2), (301, seq[301], _other(seq[301])), (799, seq[799], _other(seq[799]))]
    assert skipped1 == {}


def test_a_slots_draws_together_equal_its_draws_one_by_one(tmp_path):
    fasta, seq = _reference(tmp_path, 20_000)
    made = write_panel(tmp_path / "panel.vcf.gz", seq, samples=25, records=800, seed=4, oddities=True)
    write_panel_store(str(made.path), str(tmp_path / "store"))
    windows = ReferenceWindows(fasta=str(fasta), window_bp=2_048, stride_bp=1_500, margin_bp=0)
    for index in range(windows.plan_size()):
        window = windows.window_at(index)
        together, alone = (HaplotypeProvider(str(tmp_path / "store"), max_edits=6) for _ in range(2))
        many = together.draw_tuples(window, Stream(index), 40, 6, edge_margin=64)
        stream = Stream(index)
        one = [alone.draw(window, stream, 6, edge_margin=64) for _ in range(40)]
        assert many == one and any(d.edits for d in many)


def test_the_cap_keeps_the_first_alleles_by_position_and_counts_the_rest(edge):
    _, fasta, seq, store_dir, _ = edge
    window = ReferenceWindows(fasta=str(fasta), window_bp=1_000, stride_bp=1_000, margin_bp=0).window_at(0)
    provider = HaplotypeProvider(str(store_dir), samples=["HG00096"], max_edits=2)
    edits1, skipped1 = _draws(provider, window)[("HG00096", 1)]
    assert [e[0] for e in edits1] == [199, 301] and skipped1 == {"past_max_edits": 1}


def test_prepare_counts_calls_and_alleles_not_used_once_per_run(edge):
    _, fasta, _, store_dir, _ = edge
    windows = ReferenceWindows(fasta=str(fasta), window_bp=1_000, stride_bp=500, margin_bp=0)
    provider = HaplotypeProvider(str(store_dir), ref_mismatch="skip")
    planned = [windows.window_at(i) for i in range(windows.plan_size())]
    first = provider.prepare(planned[:2], edge_margin=64)
    again = provider.prepare(planned[1:3], edge_margin=64)  # the overlap is not counted twice
    assert dict(first.skipped) == {"gt_unphased": 1, "gt_missing": 1, "gt_half_missing": 1, "gt_haploid": 1,
                                   "symbolic": 1, "too_long": 1, "spanning_deletion": 1, "ref_mismatch": 1}
    assert "gt_unphased" not in again.skipped and "symbolic" not in again.skipped


def test_a_haplotype_with_no_allele_is_a_shortfall_the_fallback_serves(edge):
    _, fasta, _, store_dir, _ = edge
    windows = ReferenceWindows(fasta=str(fasta), window_bp=1_000, stride_bp=1_000, margin_bp=0)
    providers = {"haplotypes": HaplotypeProvider(str(store_dir), samples=["HG00098"]),  # "0|0" everywhere
                 "synthetic_snv": SyntheticSnv()}
    settings = TupleSettings(mix={"haplotypes": 2}, fallback_sources={"haplotypes": "synthetic_snv"})
    block = TupleBuilder(windows, providers, seed=3, settings=settings).run_block(0, windows.plan_size())
    assert {t.edit_source for t in block.tuples} == {"synthetic_snv"}
    assert all(t.sample == "HG00098" and t.haplotype in (0, 1) and len(t.rel_edits) == 1 for t in block.tuples)
    strict = TupleSettings(mix={"haplotypes": 1}, fallback_sources={})
    with pytest.raises(ShortfallError, match="source 'haplotypes' gave 0 of 1 edits and has no fallback"):
        TupleBuilder(windows, providers, seed=3, settings=strict).run_block(0, 1)


def test_held_out_keys_are_left_out_of_a_haplotype_tuple(edge, tmp_path):
    _, fasta, seq, store_dir, _ = edge
    keys = tmp_path / "keys.txt"
    keys.write_text(f"chr22:800:{seq[799]}:{_other(seq[799])}\n")
    windows = ReferenceWindows(fasta=str(fasta), window_bp=1_000, stride_bp=1_000, margin_bp=0)
    provider = HaplotypeProvider(str(store_dir), samples=["HG00096"])
    settings = TupleSettings(mix={"haplotypes": 4}, fallback_sources={"haplotypes": None},
                             holdouts=HoldoutPolicy.from_files(keys=str(keys)))
    block = TupleBuilder(windows, {"haplotypes": provider}, seed=1, settings=settings).run_block(0, 1)
    assert all(799 not in [e.rel_pos for e in t.rel_edits] for t in block.tuples)
    assert {len(t.rel_edits) for t in block.tuples} <= {1, 2}


def test_draws_are_deterministic_and_cover_the_chosen_samples(tmp_path):
    fasta, seq = _reference(tmp_path, 40_000)
    panel = write_panel(tmp_path / "panel.vcf.gz", seq, samples=30, records=1_500, seed=2, oddities=True)
    write_panel_store(str(panel.path), str(tmp_path / "store"), block_bytes=20_000)  # several batches
    windows = ReferenceWindows(fasta=str(fasta), window_bp=2_048, stride_bp=1_024, margin_bp=0)
    chosen = panel.samples[5:15]
    settings = TupleSettings(mix={"haplotypes": 6}, fallback_sources={"haplotypes": "synthetic_snv"})

    def build():
        providers = {"haplotypes": HaplotypeProvider(str(tmp_path / "store"), samples=chosen, max_edits=8),
                     "synthetic_snv": SyntheticSnv()}
        builder = TupleBuilder(windows, providers, seed=11, settings=settings)
        return list(builder.run_block(0, windows.plan_size()).tuples)

    first, second = build(), build()
    assert first == second
    assert {t.sample for t in first} <= set(chosen) and len({t.sample for t in first}) == len(chosen)
    served = [t for t in first if t.edit_source == "haplotypes"]
    assert served and max(len(t.rel_edits) for t in served) == 8
    # Every haplotype tuple is exactly what the panel's calls give (the generator's carriers array).
    records = list(pysam.VariantFile(str(panel.path)))
    for t in served[:40]:
        s = panel.samples.index(t.sample)
        lo, hi = t.window_start_bp + 64, t.window_end_bp - 64
        expected, end = [], -1
        for r, rec in enumerate(records):
            ref, alt = rec.ref, rec.alts[0]
            if not (lo <= rec.start and rec.start + len(ref) <= hi) or not panel.carriers[r, s, t.haplotype] \
                    or alt.startswith("<"):
                continue
            rel = rec.start - t.window_start_bp
            if rel < end:
                continue
            if len(expected) < 8:
                expected.append((rel, ref, alt))
                end = rel + len(ref)
        assert [(e.rel_pos, e.ref, e.alt) for e in t.rel_edits] == expected


def test_settings_and_stores_that_are_wrong_are_one_line_errors(edge, tmp_path):
    vcf, _, _, store_dir, _ = edge
    with pytest.raises(ConfigError, match="samples names samples the panel lacks: NOBODY"):
        HaplotypeProvider(str(store_dir), samples=["HG00096", "NOBODY"])
    with pytest.raises(ConfigError, match="max_edits=0"):
        HaplotypeProvider(str(store_dir), max_edits=0)
    with pytest.raises(InputError, match="it is a VCF: convert it once with `genolewm-prepare source=haplotypes"):
        HaplotypeProvider(str(vcf))
    names = tmp_path / "samples.txt"
    names.write_text("# the two we want\nHG00097\nNA06984\n")
    assert HaplotypeProvider(str(store_dir), samples=str(names)).chosen == ["HG00097", "NA06984"]
    unsorted = tmp_path / "unsorted.vcf"
    text = pysam.BGZFile(str(vcf)).read().decode().splitlines(keepends=True)
    body = [line for line in text if not line.startswith("#")]
    unsorted.write_text("".join(line for line in text if line.startswith("#")) + "".join(body[::-1]))
    with pytest.raises(InputError, match="comes after .*sort the VCF"):
        write_panel_store(str(unsorted), str(tmp_path / "bad"))
    assert not (tmp_path / "bad").exists() and not list(tmp_path.glob(".bad*"))


def test_audit_rederives_the_carried_alleles_from_the_vcf(edge):
    vcf, fasta, seq, store_dir, _ = edge
    provider = HaplotypeProvider(str(store_dir), samples=["HG00096"])
    source = HaplotypeSource("haplotypes", provider.audit_spec())
    window = ReferenceWindows(fasta=str(fasta), window_bp=1_000, stride_bp=1_000, margin_bp=0).window_at(0)
    row = {"chrom": "chr22", "start_bp": 0, "end_bp": 1_000, "sequence": window.sequence}
    drawn = _draws(provider, window)
    for (sample, hap), (edits, _) in drawn.items():
        assert source.carried(row, 64, sample, hap, lambda *a: False) == edits


@pytest.mark.slow
def test_cli_prepares_builds_audits_and_reports_a_panel(tmp_path):
    fasta, seq = _reference(tmp_path, 60_000)
    panel = write_panel(tmp_path / "panel.vcf.gz", seq, samples=40, records=2_000, seed=5, oddities=True)
    store = tmp_path / "chr22.haplotypes"
    prepared = subprocess.run([sys.executable, "-m", "genolewm.prepare", "source=haplotypes",
                               f"input={panel.path}", f"output={store}", f"paths.output_root={tmp_path}/out"],
                              capture_output=True, text=True)
    assert prepared.returncode == 0, prepared.stderr
    assert "40 samples, 2000 records" in prepared.stderr + prepared.stdout
    run = tmp_path / "run"
    built = subprocess.run([
        sys.executable, "-m", "genolewm.build", "providers=with_haplotypes", "mix=haplotypes", "paths=user",
        f"paths.reference={fasta}", f"paths.haplotypes={store}", f"paths.gnomad={panel.path}",
        f"paths.clinvar={panel.path}", "providers.clinvar.clnsig=null", f"paths.output_root={tmp_path}/out",
        f"hydra.run.dir={run}", "audit=true", "report=true", "mix.counts.haplotypes=3",
        "providers.haplotypes.max_edits=12"], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    assert "audit     ok" in built.stderr + built.stdout
    tuples = pq.read_table(run / "tuples").to_pylist()
    haps = [t for t in tuples if t["requested_source"] == "haplotypes"]
    assert haps and all(t["sample"] in panel.samples and t["haplotype"] in (0, 1) for t in haps)
    assert all(t["sample"] is None and t["haplotype"] is None for t in tuples if t["requested_source"] != "haplotypes")
    served = [t for t in haps if t["edit_source"] == "haplotypes"]
    assert max(len(t["edits"]) for t in served) == 12
    assert all(e["id"] and e["pos"] == t["edits"][0]["pos"] - t["edits"][0]["rel_pos"] + e["rel_pos"]
               for t in served for e in t["edits"])
    page = (run / "report.html").read_text()
    assert "Edits per haplotype tuple" in page and "Samples drawn by haplotype slots" in page
    manifest = (run / "manifest.json").read_text()
    assert "haplotypes:gt_unphased" in manifest


def test_whole_tuple_contract_is_checked_whoever_wrote_the_provider(edge):
    _, fasta, _, store_dir, _ = edge

    class Overlapping(HaplotypeProvider):
        def draw_tuples(self, *args, **kw):
            draws = super().draw_tuples(*args, **kw)
            for got in draws:
                if got.edits:
                    got.edits.append(got.edits[0])
            return draws

    windows = ReferenceWindows(fasta=str(fasta), window_bp=1_000, stride_bp=1_000, margin_bp=0)
    settings = TupleSettings(mix={"haplotypes": 1}, fallback_sources={"haplotypes": None})
    provider = Overlapping(str(store_dir), samples=["HG00096"])
    with pytest.raises(Exception, match="never overlap"):
        TupleBuilder(windows, {"haplotypes": provider}, seed=1, settings=settings).run_block(0, 1)


ONE_KG_CHR22 = Path(__file__).parent / "external" / "chr22.vcf.gz"


@pytest.mark.slow
def test_real_1000_genomes_chr22_builds_audits_and_matches_its_gt_columns(tmp_path):
    """Debian's 1000 Genomes phase 1 chr22 region (5 samples, contig 22, GT:DS:GL): prepared, built into
    haplotype tuples, audited, and a few tuples checked by hand against the GT columns of the text."""
    if not ONE_KG_CHR22.is_file():
        pytest.skip("needs tests/external/chr22.vcf.gz: run `bash scripts/fetch-test-data.sh` (.ci/run does)")
    text = pysam.BGZFile(str(ONE_KG_CHR22)).read().decode()
    header_line = next(line for line in text.splitlines() if line.startswith("#CHROM"))
    samples = header_line.split("\t")[9:]
    records = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    # The reference: random bases where the file has none, each record's REF where it has one.
    length = int(records[-1][1]) + 20_000
    rng = random.Random(22)
    bases = bytearray(rng.choice(b"ACGT") for _ in range(length))
    for cols in records:
        start, ref = int(cols[1]) - 1, cols[3]
        bases[start : start + len(ref)] = ref.encode()
    fasta = tmp_path / "22.fa"
    with fasta.open("w") as out:
        out.write(">22\n")
        for i in range(0, length, 60):
            out.write(bases[i : i + 60].decode() + "\n")
    pysam.faidx(str(fasta))
    regions = tmp_path / "region.bed"
    regions.write_text(f"22\t{int(records[0][1]) - 1}\t{int(records[-1][1])}\n")
    store = tmp_path / "chr22.haplotypes"
    prepared = subprocess.run([sys.executable, "-m", "genolewm.prepare", "source=haplotypes",
                               f"input={ONE_KG_CHR22}", f"output={store}", f"paths.output_root={tmp_path}/out"],
                              capture_output=True, text=True)
    assert prepared.returncode == 0, prepared.stderr
    run = tmp_path / "run"
    built = subprocess.run([
        sys.executable, "-m", "genolewm.build", "providers=with_haplotypes", "mix=haplotypes", "paths=user",
        "windows=regions", f"paths.regions={regions}", f"paths.reference={fasta}", f"paths.haplotypes={store}",
        f"paths.gnomad={ONE_KG_CHR22}", f"paths.clinvar={ONE_KG_CHR22}", "providers.clinvar.clnsig=null",
        "mix.counts.gnomad_common=0", "mix.counts.clinvar=0", "mix.counts.synthetic_indel=0",
        "mix.counts.synthetic_snv=1", "mix.counts.haplotypes=4", f"paths.output_root={tmp_path}/out",
        f"hydra.run.dir={run}", "audit=true"], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    assert "audit     ok" in built.stderr + built.stdout
    tuples = [t for t in pq.read_table(run / "tuples").to_pylist() if t["edit_source"] == "haplotypes"]
    windows = {w["window_index"]: w for w in pq.read_table(run / "windows").to_pylist()}
    assert len(tuples) > 100 and {t["sample"] for t in tuples} == set(samples)
    for t in tuples[:: max(1, len(tuples) // 5)]:
        window = windows[t["window_index"]]
        lo, hi = window["start_bp"] + 64, window["end_bp"] - 64
        column = 9 + samples.index(t["sample"])
        expected, end = [], -1
        for cols in records:
            start, ref, alt = int(cols[1]) - 1, cols[3], cols[4]
            gt = cols[column].split(":")[0]
            if not (lo <= start and start + len(ref) <= hi) or "|" not in gt:
                continue
            if gt.split("|")[t["haplotype"]] != "1" or not set(ref + alt) <= set("ACGT") or len(alt) > 16 \
                    or len(ref) > 16 or start - window["start_bp"] < end:
                continue
            if len(expected) < 32:
                expected.append((start + 1, ref, alt, None if cols[2] == "." else cols[2]))
                end = start - window["start_bp"] + len(ref)
        assert [(e["pos"], e["ref"], e["alt"], e["id"]) for e in t["edits"]] == expected


def test_store_blocks_hold_allele_numbers_past_16_bits(tmp_path, monkeypatch):
    """Numbers are kept as their low 16 bits per block: with blocks of 64 numbers, a panel of 1,500 records
    spans two dozen blocks, and every haplotype's alleles in any range are what a direct read gives."""
    from genolewm.providers import panel as panel_module

    monkeypatch.setattr(panel_module, "BLOCK", 64)
    fasta, seq = _reference(tmp_path, 30_000)
    made = write_panel(tmp_path / "panel.vcf.gz", seq, samples=12, records=1_500, seed=9)
    write_panel_store(str(made.path), str(tmp_path / "store"), block_bytes=30_000)
    store = PanelStore.open(tmp_path / "store")
    assert store.meta["blocks"] > 20
    usable = [r for r, rec in enumerate(pysam.VariantFile(str(made.path))) if not rec.alts[0].startswith("<")]
    rng = random.Random(3)
    for h in range(24):
        mine = [usable.index(r) for r in np.flatnonzero(made.carriers[:, h // 2, h % 2]).tolist() if r in usable]
        for _ in range(20):
            a = rng.randrange(len(usable))
            b = rng.randrange(a, len(usable) + 1)
            assert store.carried_in(h, a, b).tolist() == [n for n in mine if a <= n < b]
