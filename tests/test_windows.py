from collections import Counter

import pytest

from genolewm.errors import ConfigError, ContractError, InputError
from genolewm.windows import CorpusWindows, ReferenceWindows, WindowContext, tile_starts

import releases
from conftest import random_seq, write_fasta


def test_tile_starts_respects_margins():
    assert list(tile_starts(12_288 + 512, 12_288, 8_192, 256)) == [256]
    assert list(tile_starts(12_288 + 511, 12_288, 8_192, 256)) == []
    starts = list(tile_starts(100_000, 12_288, 8_192, 256))
    assert starts[0] == 256 and starts[1] - starts[0] == 8_192
    assert starts[-1] + 12_288 <= 100_000 - 256


def test_reference_windows_uppercase_flanks_and_n_skip(tmp_path):
    seq = random_seq(3_000, 3)
    seq = seq[:500] + seq[500:900].lower() + "N" * 700 + seq[1600:]
    fa = write_fasta(tmp_path / "r.fa", {"c1": seq, "short": "ACGT" * 50})
    win = ReferenceWindows(fasta=fa, window_bp=1_000, stride_bp=500, margin_bp=100, max_n_fraction=0.5, flank_bp=10,
                           contigs="all")
    windows = list(win)
    assert win.plan_size() == len(list(tile_starts(3_000, 1_000, 500, 100)))
    plan = list(win.iter_plan())
    assert [i for i, _, _ in plan] == list(range(win.plan_size()))
    assert sum(w is None for _, w, _ in plan) == win.plan_size() - len(windows) > 0
    for w in windows:
        assert w.chrom == "c1" and w.record_id == "c1"
        assert w.sequence == seq[w.start_bp : w.end_bp].upper()
        assert w.left_flank == seq[w.start_bp - 10 : w.start_bp].upper()
        assert w.right_flank == seq[w.end_bp : w.end_bp + 10].upper()
    assert [w.window_index for w in windows] == sorted({w.window_index for w in windows})


def test_window_at_picks_by_plan_index(tmp_path):
    fa = write_fasta(tmp_path / "r.fa", {"a": random_seq(5_000, 1), "b": random_seq(4_000, 2)})
    win = ReferenceWindows(fasta=fa, window_bp=1_000, stride_bp=700, margin_bp=0, contigs="all")
    every = list(win)
    assert [win.window_at(i) for i in range(win.plan_size())] == every
    assert list(win.iter_windows(3, 7)) == every[3:7]


def test_non_acgtn_error_or_mask(tmp_path):
    seq = random_seq(2_000, 4)
    fa = write_fasta(tmp_path / "r.fa", {"chr1": seq[:1000] + "R" + seq[1001:]})
    with pytest.raises(InputError, match="non_acgtn=mask"):
        list(ReferenceWindows(fasta=fa, window_bp=1_500, stride_bp=500, margin_bp=0, non_acgtn="error"))
    masked = list(ReferenceWindows(fasta=fa, window_bp=1_500, stride_bp=500, margin_bp=0))
    assert masked[0].sequence[1000] == "N"


@pytest.mark.parametrize("style", ["ncbi", "gatk"])
def test_iupac_codes_are_read_as_n_and_counted_once_per_base(tmp_path, style):
    """The NCBI analysis sets and the GATK bundle carry IUPAC codes: the default reads them as N and counts
    each base once, by code, whichever blocks the plan is cut into; windows overlap (stride < window)."""
    ref = releases.grch38_fasta(tmp_path, style, decoys=10)
    win = ReferenceWindows(fasta=ref.path)
    plan = list(win.iter_plan())
    covered = {(c, s + k) for _, w, _ in plan if w is not None for c, s in [(w.chrom, w.start_bp)]
               for k in range(win.window_bp)}
    for index, window, _ in plan:
        if window is None:
            chrom, start = win.locate(index)
            covered |= {(chrom, start + k) for k in range(win.window_bp)}
    expected = Counter(code.upper() for bare, at, code in releases.IUPAC
                       if (ref.chromosomes[bare], at) in covered)
    assert sum(expected.values()) >= 6
    whole = Counter()
    for _, window, codes in plan:
        whole.update(codes)
        if window is not None:
            assert set(window.sequence) <= set("ACGTN")
    assert whole == expected
    for cut in (1, 2, 5, len(plan) - 1):
        split = Counter()
        for a, b in ((0, cut), (cut, len(plan))):
            for _, _, codes in win.iter_plan(a, b):
                split.update(codes)
        assert split == expected
    chrom1 = next(w for _, w, _ in plan if w is not None and w.chrom == ref.chromosomes["1"]
                  and w.start_bp <= 20_000 < w.end_bp)
    assert chrom1.sequence[20_000 - chrom1.start_bp] == "N"


@pytest.mark.parametrize("style, tiled, left_out", [
    ("ncbi", 6, {"mitochondrion": 1, "random": 1, "unplaced": 1, "ebv": 1}),
    ("ucsc", 6, {"mitochondrion": 1, "alt": 2, "fix": 1, "random": 1, "unplaced": 1, "ebv": 1}),
    ("ensembl", 6, {"mitochondrion": 1, "unplaced": 2}),
    ("refseq", 6, {"mitochondrion": 1, "unplaced": 1}),
    ("gatk", 6, {"mitochondrion": 1, "hla": 156, "decoy": 2851, "alt": 2, "random": 1, "unplaced": 1, "ebv": 1}),
])
def test_default_tiles_the_assembled_chromosomes_of_each_release(tmp_path, style, tiled, left_out):
    ref = releases.grch38_fasta(tmp_path, style)
    win = ReferenceWindows(fasta=ref.path)
    assert win.records() == list(ref.chromosomes.values())
    assert win.sequences() == {"tiled": tiled, "left_out": left_out}
    assert sum(left_out.values()) + tiled == len(ref.sequences)
    if style == "gatk":
        assert len(ref.sequences) >= 3_000
    every = ReferenceWindows(fasta=ref.path, contigs="all")
    assert every.records() == list(ref.sequences)
    longer = [n for n, s in ref.sequences.items() if len(s) >= every.window_bp + 2 * every.margin_bp]
    assert sorted({every.locate(i)[0] for i in range(every.plan_size())}) == sorted(longer) and len(longer) > tiled
    assert every.sequences()["left_out"] == {}
    listed = ReferenceWindows(fasta=ref.path, contigs=["X", "1"])
    assert listed.records() == [ref.chromosomes["X"], ref.chromosomes["1"]]


def test_an_assembly_without_chromosome_names_is_an_error_not_an_empty_plan(tmp_path):
    fa = write_fasta(tmp_path / "fungus.fa", {f"scaffold_{k}": random_seq(20_000, k) for k in range(1, 4)})
    with pytest.raises(InputError, match=r"windows.contigs=primary: no sequence .* scaffold_1, .*windows.contigs=all"):
        ReferenceWindows(fasta=fa)
    assert ReferenceWindows(fasta=fa, contigs="all").plan_size() == 3
    with pytest.raises(ConfigError, match="windows.contigs='some'"):
        ReferenceWindows(fasta=fa, contigs="some")


def test_reference_errors(tmp_path):
    with pytest.raises(InputError, match="paths.reference: file not found"):
        ReferenceWindows(fasta=str(tmp_path / "nope.fa"))
    fa = write_fasta(tmp_path / "r.fa", {"chr1": random_seq(2_000, 1)})
    with pytest.raises(InputError, match=r"windows.contigs: 2 not in .*chr1"):
        ReferenceWindows(fasta=fa, contigs=["2"])
    assert ReferenceWindows(fasta=fa, contigs=["1"], window_bp=500, margin_bp=0).records() == ["chr1"]
    with pytest.raises(ConfigError, match="windows.non_acgtn"):
        ReferenceWindows(fasta=fa, non_acgtn="drop")
    with pytest.raises(ConfigError, match="windows.window_bp"):
        ReferenceWindows(fasta=fa, window_bp=0)


def test_corpus_windows_are_unplaced(tmp_path):
    import gzip

    seqs = {"rec_a": random_seq(3_000, 5), "rec_b": random_seq(900, 6)}
    path = tmp_path / "corpus.fa.gz"
    with gzip.open(path, "wt") as fh:
        for name, seq in seqs.items():
            fh.write(f">{name}\n{seq}\n")
    win = CorpusWindows(path=str(path), window_bp=1_000, stride_bp=1_000, source="carbon")
    windows = list(win)
    assert [w.record_id for w in windows] == ["rec_a"] * 3
    assert all(w.chrom is None and w.source == "carbon" and not w.placed for w in windows)
    assert windows[1].sequence == seqs["rec_a"][1000:2000]
    assert windows[1].left_flank == seqs["rec_a"][488:1000]  # flank_bp 512


def test_window_context_validates():
    with pytest.raises(ContractError, match="uppercase"):
        WindowContext("r", "s", "ACGTx")
    w = WindowContext("r", "s", "ACGT", start_bp=10, chrom="chr1")
    assert w.end_bp == 14 and len(w.window_id) == 64


def test_corpus_blocks_read_the_file_once(tmp_path, monkeypatch):
    seqs = {f"rec_{i}": random_seq(2_500 + 700 * i, 60 + i) for i in range(6)}
    fa = write_fasta(tmp_path / "c.fa", seqs)
    win = CorpusWindows(path=fa, window_bp=1_000, stride_bp=500)
    whole = list(win)
    assert win.plan_size() == len(whole) and win.locate(5) == (whole[5].record_id, whole[5].start_bp)
    opened = []
    original = win._records

    def counting_records():
        opened.append(1)
        yield from original()

    monkeypatch.setattr(win, "_records", counting_records)
    blocks = [list(win.iter_windows(start=a, stop=min(a + 4, len(whole)))) for a in range(0, len(whole), 4)]
    assert [w for block in blocks for w in block] == whole
    assert len(opened) == 1


def test_regions_are_tiled_on_whatever_sequence_the_bed_names(tmp_path):
    from genolewm.windows import RegionWindows

    ref = releases.grch38_fasta(tmp_path, "ncbi", decoys=0)
    bed = tmp_path / "regions.bed"
    bed.write_text("chr1_KI270706v1_random\t1000\t9000\nchr2\t2000\t10000\n")
    win = RegionWindows(fasta=ref.path, regions=str(bed), window_bp=4_000, stride_bp=4_000)
    assert sorted({w.chrom for w in win}) == ["chr1_KI270706v1_random", "chr2"]
    assert win.sequences() == {"tiled": 2, "left_out": {}}
