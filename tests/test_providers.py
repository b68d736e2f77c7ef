import collections
import gzip
import os
import shutil
from pathlib import Path
from random import Random

from collections import Counter

import numpy as np
import pysam
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genolewm.errors import ConfigError, InputError
from genolewm.providers import SyntheticIndel, SyntheticSnv, VariantProvider
from genolewm.types import EditType
from genolewm.windows import WindowContext

from conftest import random_seq, write_vcf

SEQ = random_seq(2_000, 11)


def window(seq=SEQ, start=1_000, chrom="chr1"):
    return WindowContext(chrom or "rec", "ref", seq, start_bp=start, chrom=chrom)


def test_synthetic_snv_contract():
    seq = SEQ[:300] + "N" * 200 + SEQ[500:]
    w = window(seq)
    edits = SyntheticSnv()(w, Random(1), 500, edge_margin=64)
    assert len(edits) == 500 == len(set(edits))
    for e in edits:
        assert 64 <= e.rel_pos < len(seq) - 64
        assert e.ref == seq[e.rel_pos] != "N" and e.alt != e.ref and e.edit_type == EditType.SNV
    alts = collections.Counter((e.ref, e.alt) for e in SyntheticSnv()(w, Random(2), 1_500, edge_margin=64))
    assert len(alts) == 12  # every ref base reaches every other base


def test_synthetic_snv_deterministic_and_respects_exclusion():
    w = window()
    a = SyntheticSnv()(w, Random(7), 8, edge_margin=64)
    assert a == SyntheticSnv()(w, Random(7), 8, edge_margin=64)
    banned = set(a[:4])
    b = SyntheticSnv()(w, Random(7), 8, edge_margin=64, excluded=lambda e: e in banned)
    assert not banned & set(b) and len(b) == 8


def test_synthetic_snv_all_n_window_gives_nothing():
    assert SyntheticSnv()(window("N" * 400), Random(1), 3, edge_margin=64) == []


def test_synthetic_indel_contract_and_distribution():
    seq = SEQ[:1000] + "N" * 5 + SEQ[1005:]
    w = window(seq)
    edits = SyntheticIndel()(w, Random(3), 4_000, edge_margin=64)
    kinds = collections.Counter(e.edit_type.name for e in edits)
    assert set(kinds) == {"INS", "DEL"}
    assert abs(kinds["INS"] / len(edits) - 0.5) < 0.05
    lengths = collections.Counter(abs(len(e.alt) - len(e.ref)) for e in edits)
    assert max(lengths) <= 15 and min(lengths) >= 1
    assert abs(lengths[1] / len(edits) - 0.5) < 0.05  # geometric p=0.5
    assert abs(lengths[2] / len(edits) - 0.25) < 0.04
    for e in edits:
        assert 64 <= e.rel_pos and e.end <= len(seq) - 64
        assert seq[e.rel_pos : e.end] == e.ref and "N" not in e.ref
        assert len(e.ref) <= 16 and len(e.alt) <= 16


def test_synthetic_indel_rejects_bad_settings():
    with pytest.raises(ConfigError, match="max_event_bp"):
        SyntheticIndel(max_event_bp=16)
    with pytest.raises(ConfigError, match="insertion_fraction"):
        SyntheticIndel(insertion_fraction=2)


def vcf_rows(seq, start):
    """Records around a window at ``start`` on chr1 (1-based POS = start + rel + 1)."""
    def pos(rel):
        return start + rel + 1

    def ref(rel, n=1):
        return seq[rel : rel + n]

    other = {"A": "C", "C": "G", "G": "T", "T": "A"}
    return [
        f"chr1\t{pos(10)}\t.\t{ref(10)}\t{other[ref(10)]}\t.\tPASS\tAF=0.5;CLNSIG=Pathogenic",
        f"chr1\t{pos(100)}\t.\t{ref(100)}\t{other[ref(100)]}\t.\tPASS\tAF=0.2;CLNSIG=Pathogenic",
        f"chr1\t{pos(110)}\t.\t{ref(110)}\t{other[ref(110)]},*\t.\tPASS\tAF=0.3,0.4;CLNSIG=Benign",
        f"chr1\t{pos(120)}\t.\t{ref(120)}\t<DEL>\t.\tPASS\tAF=0.3;CLNSIG=Pathogenic",
        f"chr1\t{pos(130)}\t.\t{ref(130, 20)}\t{ref(130)}\t.\tPASS\tAF=0.3;CLNSIG=Pathogenic",
        f"chr1\t{pos(160)}\t.\t{ref(160)}\t{other[ref(160)]}\t.\tLowQual\tAF=0.3;CLNSIG=Pathogenic",
        f"chr1\t{pos(170)}\t.\t{ref(170)}\t{other[ref(170)]}\t.\tPASS\tAF=0.001;CLNSIG=Likely_pathogenic",
        f"chr1\t{pos(180)}\t.\t{ref(180)}\t{other[ref(180)]}\t.\tPASS\tAF=.;CLNSIG=Pathogenic|drug_response",
        f"chr1\t{pos(190)}\t.\t{other[ref(190)]}\t{ref(190)}\t.\tPASS\tAF=0.5;CLNSIG=Pathogenic",
        f"chr1\t{pos(200)}\t.\t{ref(200, 3)}\t{ref(200)},{ref(200)}GGT\t.\tPASS\tAF=0.05,0.002;CLNSIG=Pathogenic",
    ]


@pytest.fixture
def small_vcf(tmp_path):
    start = 1_000
    return write_vcf(tmp_path / "v.vcf", {"chr1": 10_000}, vcf_rows(SEQ, start)), start


def test_variant_provider_filters_and_counts(small_vcf):
    path, start = small_vcf
    w = window(SEQ, start)
    gnomad = VariantProvider(path, name="gnomad_common", min_af=0.01)
    draw = gnomad.draw(w, Random(1), 100, edge_margin=64)
    edits = draw.edits
    assert sorted((e.rel_pos, e.ref, e.alt) for e in edits) == sorted(
        [(100, SEQ[100], {"A": "C", "C": "G", "G": "T", "T": "A"}[SEQ[100]]),
         (110, SEQ[110], {"A": "C", "C": "G", "G": "T", "T": "A"}[SEQ[110]]),
         (200, SEQ[200:203], SEQ[200])]
    )
    assert draw.skipped == {
        "spanning_deletion": 1, "symbolic": 1, "too_long": 1, "not_pass": 1, "af_below_min": 2,
        "af_missing": 1, "ref_mismatch": 1,
    }
    assert gnomad.draw(w, Random(1), 100, edge_margin=64).skipped == {}  # counted once, by the first call
    clinvar = VariantProvider(path, name="clinvar", clnsig=["Pathogenic", "Likely_pathogenic"])
    got = {(e.rel_pos, e.alt) for e in clinvar(w, Random(1), 100, edge_margin=64)}
    assert {p for p, _ in got} == {100, 170, 180, 200}


def test_variant_provider_samples_within_quota_and_respects_holdout(small_vcf):
    path, start = small_vcf
    w = window(SEQ, start)
    provider = VariantProvider(path, min_af=0.01)
    two = provider(w, Random(5), 2, edge_margin=64)
    assert len(two) == 2 and two == provider(w, Random(5), 2, edge_margin=64)
    held = provider(w, Random(5), 10, edge_margin=64, excluded=lambda e: e.rel_pos == 100)
    assert {e.rel_pos for e in held} == {110, 200}


def test_variant_provider_margins_and_unplaced(small_vcf):
    path, start = small_vcf
    provider = VariantProvider(path, min_af=0.01)
    assert all(e.rel_pos >= 150 for e in provider(window(SEQ, start), Random(1), 10, edge_margin=150))
    assert provider(window(SEQ, start, chrom=None), Random(1), 10, edge_margin=64) == []


def test_ref_mismatch_error_policy_names_record(small_vcf):
    path, start = small_vcf
    provider = VariantProvider(path, min_af=0.01, ref_mismatch="error")
    with pytest.raises(InputError, match=rf"chr1:{start + 191}:.*REF does not match"):
        provider(window(SEQ, start), Random(1), 10, edge_margin=64)


def test_vcf_file_checks(tmp_path):
    plain = write_vcf(tmp_path / "plain.vcf", {"chr1": 100}, [], index=False)
    with pytest.raises(InputError, match="not bgzip-compressed"):
        VariantProvider(plain)
    gz = tmp_path / "gzip.vcf.gz"
    with open(plain, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    stem = str(gz)[: -len(".gz")]
    with pytest.raises(InputError, match=rf"gzip- but not bgzip-compressed; recompress it: `zcat {gz} \| bgzip > "
                                         rf"{stem}.bgz` and `tabix -p vcf {stem}.bgz`"):
        VariantProvider(str(gz))
    indexed = write_vcf(tmp_path / "ok.vcf", {"chr1": 100}, ["chr1\t5\t.\tA\tC\t.\tPASS\tAF=0.5"])
    shutil.copy(indexed, tmp_path / "noindex.vcf.gz")
    with pytest.raises(InputError, match="no .tbi or .csi index"):
        VariantProvider(str(tmp_path / "noindex.vcf.gz"))
    with pytest.raises(InputError, match="file not found"):
        VariantProvider(str(tmp_path / "missing.vcf.gz"))
    with pytest.raises(ConfigError, match="af_field='AF_joint'"):
        VariantProvider(indexed, min_af=0.01, af_field="AF_joint")
    with pytest.raises(ConfigError, match="ref_mismatch"):
        VariantProvider(indexed, ref_mismatch="fix")


def test_overlapping_windows_read_each_record_once(tmp_path):
    genome = random_seq(8_000, 12)
    rows = [f"chr1\t{p + 1}\t.\t{genome[p]}\t<DEL>\t.\tPASS\tAF=0.5" for p in range(100, 7_900, 50)]
    rows += [f"chr1\t{p + 1}\t.\t{genome[p]}\t{'A' if genome[p] != 'A' else 'C'}\t.\tPASS\tAF=0.5"
             for p in range(125, 7_900, 50)]
    rows.sort(key=lambda r: int(r.split("\t")[1]))
    provider = VariantProvider(write_vcf(tmp_path / "o.vcf", {"chr1": 8_000}, rows), min_af=0.01)
    pools, skipped = [], Counter()
    for start in (0, 2_000, 4_000):  # 4 kb windows overlapping by 2 kb
        w = WindowContext("chr1", "ref", genome[start : start + 4_000], start_bp=start, chrom="chr1")
        draw = provider.draw(w, Random(1), 1_000, edge_margin=64)
        pools.append(draw.edits)
        skipped += draw.skipped
        assert provider(w, Random(1), 1_000, edge_margin=64) == pools[-1]  # repeated calls reuse the pool
        assert {e.rel_pos % 50 for e in pools[-1]} == {(125 - start) % 50}
    # Every <DEL> record starts inside [64, 7936), the union of the windows' margins: each counted once.
    assert skipped == {"symbolic": len(range(100, 7_900, 50))}
    assert len(pools[1]) == len(range(2_075, 6_000 - 64, 50))


def test_variant_provider_takes_in_memory_variants():
    from genolewm.errors import ContractError
    from genolewm.providers import InMemoryVariants, variant_provider

    start = 1_000
    w = window(SEQ, start)
    other = {"A": "C", "C": "G", "G": "T", "T": "A"}
    variants = [("chr1", start + p + 1, SEQ[p], other[SEQ[p]]) for p in (100, 150, 300)]
    variants.append(("1", start + 201, other[SEQ[200]], SEQ[200]))  # REF disagrees with the window
    variants.append(("chr1", start + 10, SEQ[9], other[SEQ[9]]))  # inside the edge margin
    provider = variant_provider(variants, name="fixture")
    assert isinstance(provider, InMemoryVariants) and provider.inputs() == ()
    draw = provider.draw(w, Random(1), 10, edge_margin=64)
    assert sorted(e.rel_pos for e in draw.edits) == [100, 150, 300] and draw.skipped == {"ref_mismatch": 1}
    assert provider.draw(w, Random(1), 10, edge_margin=64).skipped == {}
    assert provider(window(SEQ, start), Random(2), 2, edge_margin=64) != []
    with pytest.raises(ContractError, match="variant_provider: chr1:0"):
        variant_provider([("chr1", 0, "A", "C")])


@pytest.mark.parametrize("row, message", [
    ("chr1\t1101\t.\tA\tC\t.\tPASS", r"malformed VCF record .* needs 8 tab-separated columns"),
    ("chr1\t1101\t.\tA\tC\t.\tPASS\tAF=high", r"INFO AF has a value that is not a number"),
])
def test_malformed_records_name_the_file(tmp_path, row, message):
    """The bulk decoder refuses what pysam would: a short record, a non-numeric AF."""
    seq = "A" * 2_000
    path = write_vcf(tmp_path / "bad.vcf", {"chr1": 4_000}, [row])
    with pytest.raises(InputError, match=rf"{tmp_path}/bad.vcf.gz \(chr1 from \d+\): {message}"):
        VariantProvider(path, min_af=0.01).draw(window(seq, 1_000), Random(1), 1, edge_margin=64)


def test_bulk_decoder_reads_info_filter_and_alleles_as_pysam(tmp_path):
    """INFO keys that end like AF, flags, '.', absent keys, multi-ALT lists with missing values, and
    symbolic, breakend and lowercase alleles: the decoder's values and filter reasons match pysam's."""
    from genolewm.providers.filters import AlleleFilter
    from genolewm.providers.records import header_layout, record_batches

    rows = [
        "chr1\t101\t.\tA\tC\t.\tPASS\tXAF=0.9;AF=0.02",
        "chr1\t102\trs2\ta\tg,T\t.\t.\tAF=0.5,.;DB",
        "chr1\t103\t.\tC\t<DEL>,*\t.\tLowQual\tDB;AF_afr=0.3",
        "chr1\t104\t.\tG\tG]chr1:5],A\t.\tPASS\t.",
        "chr1\t105\t.\tT\tTN,TTTTTTTTTTTTTTTTTTTT\t.\tPASS\tAF=0.1,0.2;CLNSIG=Pathogenic|risk,Benign",
        "chr1\t106\t.\tG\tG\t.\tPASS\tCLNSIG=.;AF=0.3",
    ]
    info = [f'##INFO=<ID={key},Number={n},Type={t},Description="{key}">' for key, n, t in
            [("AF", "A", "Float"), ("XAF", "A", "Float"), ("AF_afr", "A", "Float"), ("DB", 0, "Flag"),
             ("CLNSIG", ".", "String")]]
    path = write_vcf(tmp_path / "odd.vcf", {"chr1": 1_000}, rows, info)
    filt = AlleleFilter.from_settings(min_af=0.05, clnsig=["Pathogenic"])
    with pysam.VariantFile(path) as vcf:
        n_columns, info_lists = header_layout(vcf.header, filt.info_fields())
        expected_af, expected_pass = [], []
        for rec in vcf:
            af = rec.info.get("AF")
            for i in range(len(rec.alts)):
                value = None if af is None or i >= len(af) else af[i]
                expected_af.append(float("nan") if value is None else value)
                expected_pass.append(list(rec.filter) in ([], ["PASS"]))
    (batch,) = record_batches(["\n".join(rows).encode()], n_columns, info_lists, path)
    assert batch.alt.to_pylist() == ["C", "G", "T", "<DEL>", "*", "G]CHR1:5]", "A", "TN", "T" * 20, "G"]
    assert np.allclose(batch.info_float("AF"), expected_af, equal_nan=True)
    assert batch.passed().tolist() == expected_pass
    present, hit = batch.info_term_hits("CLNSIG", frozenset({"Pathogenic"}))
    assert hit.tolist() == [0] * 7 + [1, 1, 0] and present.tolist() == [0] * 7 + [1, 1, 0]
    assert filt.reasons(batch).tolist() == [
        "af_below_min", "clnsig_missing", "af_missing", "not_pass", "not_pass", "symbolic", "af_missing",
        "non_acgt", "too_long", "ref_equals_alt",
    ]


@pytest.mark.parametrize("batch_bytes", [2 << 20, 3_000])
def test_bulk_reads_are_the_indexed_records(monkeypatch, batch_bytes):
    """The provider finds a contig's first record at or after a start through the index, then reads the
    text after it in blocks up to the next contig: the same records, kept and skipped, as tabix's own
    line-by-line fetch, from any start, across block boundaries and at the end of the file."""
    from genolewm import demo
    from genolewm.providers import records

    monkeypatch.setattr(records, "BATCH_BYTES", batch_bytes)
    path = str(demo.DEMO_DIR / "gnomad.vcf.gz")
    provider = VariantProvider(path, min_af=0.01, name="gnomad")
    with pysam.TabixFile(path) as tbx:
        for chrom in tbx.contigs:
            last = int(collections.deque(tbx.fetch(chrom), maxlen=1)[0].split("\t")[1])
            for start in (0, 1_234_567 % last, last - 1, last + 10):
                text = "".join(line + "\n" for line in tbx.fetch(chrom, start)).encode()
                want = [provider.filter.select(b).since(start)
                        for b in records.record_batches([text], provider._n_columns, provider._info_lists, path)]
                got = [selected for selected, _ in provider._read(chrom, start)]
                for name in ("start", "ref", "alt", "id", "af", "skipped_start", "skipped_reason"):
                    column = [[value for part in parts for value in getattr(part, name)] for parts in (want, got)]
                    assert np.array_equal(*column, equal_nan=name == "af"), (chrom, start, name)
                assert start > last or got, (chrom, start)


def _pools(provider, windows, margin=64):
    """Each window's pool as ``(start, ref, alt)``, the windows prepared together."""
    provider.prepare(windows, edge_margin=margin)
    out = []
    for w in windows:
        pool = provider._pools[("chr1", w.start_bp, w.window_id, margin)]
        out.append([(int(pool.rows.start[r]), pool.rows.ref[r], pool.rows.alt[r]) for r in pool.indices()])
    return out


@pytest.mark.parametrize("together", [1, 7, 1000])
def test_window_pools_match_a_direct_scan(together):
    """Windows of varying lengths sliding forward (a longer one, then shorter ones inside its end),
    prepared one at a time or in blocks: each pool is exactly the filtered alleles wholly inside the
    window's margins whose REF matches, each once, in file order, however the provider caches rows and
    REF checks across windows and blocks."""
    from genolewm import demo
    from genolewm.providers import records

    path = str(demo.DEMO_DIR / "gnomad.vcf.gz")
    provider = VariantProvider(path, min_af=0.01, name="gnomad")
    with pysam.FastaFile(str(demo.DEMO_DIR / "ref.fa")) as fa:
        chrom_seq = fa.fetch("chr1").upper()
    with pysam.TabixFile(path) as tbx:
        text = "".join(line + "\n" for line in tbx.fetch("chr1")).encode()
    (batch,) = records.record_batches([text], provider._n_columns, provider._info_lists, path)
    kept = provider.filter.select(batch)
    alleles = list(zip(kept.start.tolist(), kept.ref, kept.alt))
    rng, start, margin, windows = Random(7), 1_000, 64, []
    while start < len(chrom_seq) - 4_000:
        length = rng.choice([300, 900, 2_500, 4_000])
        windows.append(WindowContext("chr1", "ref", chrom_seq[start : start + length], start_bp=start, chrom="chr1"))
        start += rng.choice([100, 250, length // 2])
    checked = 0
    for k in range(0, len(windows), together):
        block = windows[k : k + together]
        for w, got in zip(block, _pools(provider, block, margin)):
            lo, hi = w.start_bp + margin, w.end_bp - margin
            want = list(dict.fromkeys((s, ref, alt) for s, ref, alt in alleles
                                      if lo <= s and s + len(ref) <= hi and chrom_seq[s : s + len(ref)] == ref))
            assert got == want, (w.start_bp, len(w.sequence))
            checked += len(want)
    assert checked > 500


@pytest.mark.parametrize("together", [False, True])
def test_pools_keep_file_order_and_one_copy_of_each_allele(tmp_path, together):
    """A deletion ending past one window's margin is checked in the next window, after an SNV behind it
    that the first window held whole: the next pool still lists them in file order. A record repeated in
    the file, even after another allele at its position, gives one pool entry."""
    chrom = random_seq(6_000, 5)
    other = {"A": "C", "C": "G", "G": "T", "T": "A"}
    deletion, snv, repeated = 2_930, 2_932, 1_800
    base = chrom[repeated]
    rows = [f"chr1\t{repeated + 1}\t.\t{base}\t{alt}\t.\tPASS\tAF=0.5"
            for alt in (other[base], other[other[base]], other[base])] + [
        f"chr1\t{deletion + 1}\t.\t{chrom[deletion:deletion + 10]}\t{chrom[deletion]}\t.\tPASS\tAF=0.5",
        f"chr1\t{snv + 1}\t.\t{chrom[snv]}\t{other[chrom[snv]]}\t.\tPASS\tAF=0.5",
    ]
    provider = VariantProvider(write_vcf(tmp_path / "v.vcf", {"chr1": 6_000}, rows), min_af=0.01)
    windows = [WindowContext("chr1", "ref", chrom[start:end], start_bp=start, chrom="chr1")
               for start, end in ((1_000, 3_000), (1_500, 3_500))]
    pools = _pools(provider, windows) if together else [_pools(provider, [w])[0] for w in windows]
    at_repeated = [(repeated, base, other[base]), (repeated, base, other[other[base]])]
    deleted = chrom[deletion : deletion + 10]
    assert pools == [[*at_repeated, (snv, chrom[snv], other[chrom[snv]])],  # the deletion ends past 3_000 - 64
                     [*at_repeated, (deletion, deleted, chrom[deletion]), (snv, chrom[snv], other[chrom[snv]])]]


def test_only_acgt_reads_alleles_through_their_buffers():
    """The byte-table check agrees with the plain definition on empty, null, lowercase, symbolic and
    sliced arrays."""
    import pyarrow as pa

    from genolewm.arrow import column
    from genolewm.providers.records import only_acgt

    values = ["ACGT", "", None, "acgt", "N", "<DEL>", "G]1:5]", "T" * 40, "A", "CA*"]
    array = column(values, pa.string())
    for lo, hi in [(0, len(values)), (3, 7), (2, 3), (5, 5)]:
        expected = [v is not None and v != "" and not v.strip("ACGT") for v in values[lo:hi]]
        assert only_acgt(array.slice(lo, hi - lo)).tolist() == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(
    st.lists(st.sampled_from(["AF_joint=0.25", "AF=0.5,0.01", "XAF=0.9", "AF_joint_afr=0.7", "vep=A|b|c,T|d|e",
                              "DB", "CLNSIG=Pathogenic,_low_penetrance|risk_factor", "ONC=Oncogenic", "AF=.",
                              "CLNSIG=Benign", "nAF_joint=0.3", "v" * 300]), max_size=6),
    st.booleans()), min_size=1, max_size=8))
def test_cutting_long_info_reads_the_same_values(records):
    """Records with long INFO are cut to the keys a filter reads before parsing: every value read, and
    every column, is the same as from the whole text (keys inside longer keys, flags, '.', lists, FORMAT
    and sample columns, the key first, last or absent)."""
    from unittest import mock

    from genolewm.providers import records as rec
    from genolewm.providers.records import decode, keep_info

    info_lists = {"AF_joint": True, "AF": True, "CLNSIG": True, "ONC": True}
    lines = []
    for k, (items, with_sample) in enumerate(records):
        info = ";".join(items) or "."
        lines.append(f"chr1\t{100 + k}\trs{k}\tA\tC,G\t.\tPASS\t{info}" + ("\tGT\t0|1" if with_sample else ""))
    n_columns = 10 if any(s for _, s in records) else 8
    lines = [line + ("\tGT\t0|1" if n_columns == 10 and line.count("\t") == 7 else "") for line in lines]
    text = ("\n".join(lines) + "\n").encode()
    with mock.patch.object(rec, "LONG_LINE_BYTES", len(text) + 1):  # parsed whole
        whole = decode(text, n_columns, info_lists, "x")
    cut_text = keep_info(text, info_lists, n_columns)
    assert len(cut_text) <= len(text) + 4 * len(lines)
    cut = decode(cut_text, n_columns, info_lists, "x")
    for key in ("AF_joint", "AF"):
        assert np.array_equal(whole.info_float(key), cut.info_float(key), equal_nan=True)
    for key in info_lists:
        assert whole.info_raw(key).to_pylist() == cut.info_raw(key).to_pylist()
        assert [whole.info_terms(key, i) for i in range(len(whole))] == \
            [cut.info_terms(key, i) for i in range(len(cut))]
    for name in ("CHROM", "POS", "ID", "REF", "ALT", "FILTER"):
        assert whole.column(name).to_pylist() == cut.column(name).to_pylist()


def test_release_records_are_cut_on_another_core_as_in_process(releases_dir):
    """A release file's records from a virtual offset, inflated and cut by a child process, are the text an
    in-process read gives cut the same way; closing early ends the child."""
    from genolewm.providers.inflate import CutRecords
    from genolewm.providers.records import keep_info

    path, keys = releases_dir["joint"], ("AF_joint",)
    with pysam.TabixFile(path) as tbx, pysam.BGZFile(path, "rb") as whole:
        next(tbx.fetch("chr2"))
        voffset = tbx.tell()
        assert voffset & 0xFFFF, "the record after chr2's first starts inside a BGZF block"
        whole.seek(voffset)
        expected = keep_info(whole.read(), keys)
    cut = CutRecords(path, voffset, keys, 8)
    got = b"".join(iter(lambda: cut.read(1 << 16), b""))
    assert got == expected and got.count(b"\n") == expected.count(b"\n") > 100
    assert cut.read(10) == b""
    early = CutRecords(path, voffset, keys, 8)
    assert early.read(100)
    early.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(early.pid, 0)


def test_a_damaged_release_file_is_one_error_naming_it(releases_dir, tmp_path):
    from genolewm.errors import InputError
    from genolewm.providers.inflate import CutRecords

    damaged = tmp_path / "gnomad.joint.damaged.vcf.bgz"
    data = Path(releases_dir["joint"]).read_bytes()
    damaged.write_bytes(data[: len(data) // 2] + b"\0" * 5000)
    cut = CutRecords(str(damaged), 0, ("AF_joint",), 8)
    with pytest.raises(InputError, match=r"gnomad.joint.damaged.vcf.bgz: cannot decompress it .*bgzip -t"):
        while cut.read(1 << 16):
            pass
