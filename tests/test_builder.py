import collections

import pytest

from genolewm.builder import TupleBuilder, TupleSettings, build_training_tuples
from genolewm.errors import ConfigError, ContractError, EditError, ShortfallError
from genolewm.holdout import HoldoutPolicy
from genolewm.mix import DEFAULT_EDIT_SOURCE_COUNTS, Mix, MultiEdit
from genolewm.providers import SyntheticIndel, SyntheticSnv, VariantProvider
from genolewm.types import EditSourceCount, HoldoutInterval, RelEdit, WindowContext
from genolewm.windows import ReferenceWindows

from conftest import random_seq, write_vcf

SEQ = random_seq(1_000, 21)


def fallbacks_of(tuples):
    return collections.Counter(f"{t.requested_source}->{s}" for t in tuples for s in t.edit_sources
                               if s != t.requested_source)


def make(windows, seed=0, split="train", provider_map=None, **settings):
    return TupleBuilder(windows=windows, providers=provider_map or providers(), seed=seed,
                        settings=TupleSettings(**settings), split=split)


def providers(vcf=None):
    out = {"synthetic_snv": SyntheticSnv(), "synthetic_indel": SyntheticIndel()}
    if vcf:
        out["gnomad_common"] = VariantProvider(vcf, name="gnomad_common", min_af=0.01)
        out["clinvar"] = VariantProvider(vcf, name="clinvar", clnsig=["Pathogenic"])
    return out


@pytest.fixture
def vcf_with_two_common(tmp_path):
    rows = [
        f"chr1\t{1000 + rel + 1}\t.\t{SEQ[rel]}\t{'A' if SEQ[rel] != 'A' else 'C'}\t.\tPASS\tAF=0.2"
        for rel in (200, 300)
    ]
    return write_vcf(tmp_path / "g.vcf", {"chr1": 5_000}, rows)


def test_default_mix_with_fallbacks(vcf_with_two_common):
    w = WindowContext("chr1", "ref", SEQ, 1_000, "chr1")
    tuples = build_training_tuples(w, providers(vcf_with_two_common), seed=3)
    assert len(tuples) == 8
    assert collections.Counter(t.requested_source for t in tuples) == {
        "gnomad_common": 3, "synthetic_snv": 3, "synthetic_indel": 1, "clinvar": 1}
    gnomad_slot = [t for t in tuples if t.requested_source == "gnomad_common"]
    assert collections.Counter(t.edit_source for t in gnomad_slot) == {"gnomad_common": 2, "synthetic_snv": 1}
    assert fallbacks_of(tuples) == {"gnomad_common->synthetic_snv": 1, "clinvar->synthetic_snv": 1}
    assert [t.tuple_index for t in tuples] == list(range(8))
    assert tuples == build_training_tuples(w, providers(vcf_with_two_common), seed=3)
    assert tuples != build_training_tuples(w, providers(vcf_with_two_common), seed=4)


def test_strict_shortfall_names_window_and_source(vcf_with_two_common):
    w = WindowContext("chr1", "ref", SEQ, 1_000, "chr1", window_index=7)
    with pytest.raises(ShortfallError, match=r"window 7 \(chr1:1000-2000\): source 'gnomad_common' gave 2 of 3"):
        build_training_tuples(w, providers(vcf_with_two_common), seed=1, fallback_sources={})


def test_unplaced_window_falls_back(vcf_with_two_common):
    w = WindowContext("carbon_0", "corpus", SEQ)
    tuples = build_training_tuples(w, providers(vcf_with_two_common), seed=1)
    assert collections.Counter(t.edit_source for t in tuples) == {"synthetic_snv": 7, "synthetic_indel": 1}


def test_fallback_chain(vcf_with_two_common):
    w = WindowContext("chr1", "ref", SEQ, 1_000, "chr1")
    mix = (EditSourceCount("clinvar", 2),)
    tuples = build_training_tuples(
        w, providers(vcf_with_two_common), seed=1, mix=mix,
        fallback_sources={"clinvar": "gnomad_common", "gnomad_common": "synthetic_indel"},
    )
    assert [t.edit_source for t in tuples] == ["gnomad_common", "gnomad_common"]


def test_shortfall_after_a_dry_fallback_says_so(vcf_with_two_common):
    w = WindowContext("chr1", "ref", SEQ, 1_000, "chr1")
    with pytest.raises(ShortfallError, match=r"fallback chain clinvar -> gnomad_common also ran dry"):
        build_training_tuples(w, providers(vcf_with_two_common), seed=1, mix=(EditSourceCount("clinvar", 3),),
                              fallback_sources={"clinvar": "gnomad_common"})


def test_held_out_window_and_keys(vcf_with_two_common):
    w = WindowContext("chr1", "ref", SEQ, 1_000, "chr1")
    assert build_training_tuples(w, providers(), seed=1, mix=(EditSourceCount("synthetic_snv", 2),),
                                 holdouts=HoldoutPolicy(holdout_chroms=("chr1",))) == ()
    key = f"chr1:{1000 + 201}:{SEQ[200]}:{'A' if SEQ[200] != 'A' else 'C'}"
    tuples = build_training_tuples(w, providers(vcf_with_two_common), seed=1,
                                   mix=(EditSourceCount("gnomad_common", 2),),
                                   holdouts=HoldoutPolicy(edit_keys=(key,)))
    assert [t.edit_source for t in tuples] == ["gnomad_common", "synthetic_snv"]
    assert all(t.rel_edits[0].rel_pos != 200 or t.edit_source != "gnomad_common" for t in tuples)


@pytest.mark.parametrize("overrides", [[], ["holdout=rfc", "mix=realism"], ["fallback=strict", "mix=snv_only"]])
def test_first_draws_settled_for_a_block_are_the_window_by_window_draws(compose_cfg, monkeypatch, overrides):
    """Each source's draw_block (VCF pools, synthetic attempts from numbers made at once) gives exactly
    the tuples and counts the window-by-window draws give, and settles most slots of the demo."""
    from genolewm.config import make_builder
    from genolewm.providers.base import SyntheticProvider

    builder, _ = make_builder(compose_cfg(overrides))
    settled = collections.Counter()
    for cls in {type(p) for p in builder.providers.values()}:
        original = cls.draw_block

        def counting(self, windows, *args, original=original, **kwargs):
            got = original(self, windows, *args, **kwargs)
            settled.update("settled" if d is not None else "alone" for d in got)
            return got

        monkeypatch.setattr(cls, "draw_block", counting)
    size = builder.windows.plan_size()
    fast = builder.run_block(0, size)
    assert settled["settled"] > 3 * settled["alone"]
    assert settled["alone"] or overrides  # ClinVar's sparse pools leave some windows to draw alone
    for cls in (VariantProvider, SyntheticProvider):
        monkeypatch.setattr(cls, "draw_block", lambda self, windows, *a, **k: [None] * len(windows))
    slow = builder.run_block(0, size)
    assert list(fast.tuples) == list(slow.tuples) and len(fast.tuples) > 100
    assert fast.counts() == slow.counts()


def test_per_window_streams_do_not_depend_on_other_windows():
    a = WindowContext("chr1", "ref", SEQ, 0, "chr1", window_index=0)
    b = WindowContext("chr1", "ref", random_seq(1_000, 22), 1_000, "chr1", window_index=1)
    p = providers()
    mix = {"synthetic_snv": 3, "synthetic_indel": 2}
    alone = build_training_tuples(b, p, seed=9, mix=mix)
    build_training_tuples(a, p, seed=9, mix=mix)
    assert build_training_tuples(b, p, seed=9, mix=mix) == alone


def test_provider_contract_enforced():
    def rogue(window, rng, count, *, edge_margin, excluded):
        return [RelEdit(1, window.sequence[1], "A" if window.sequence[1] != "A" else "C")]
    w = WindowContext("r", "ref", SEQ)
    with pytest.raises(EditError, match="outside the edge margins"):
        build_training_tuples(w, {"rogue": rogue}, seed=1, mix=(EditSourceCount("rogue", 1),))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mix": {"gnomad": 3}}, r"mix.counts.gnomad: no provider .*synthetic_snv"),
        ({"fallback_sources": {"synthetic_snv": "nothing"}}, "fallback.synthetic_snv=nothing: no provider"),
        ({"edge_margin": 600}, "windows.window_bp=1000: must exceed twice edge_margin"),
        ({"seed": "x"}, "seed='x'"),
        ({"split": "test"}, "split='test'"),
        ({"holdouts": HoldoutPolicy(holdout_chroms=("chr9",))}, "holdout.chroms: contig 'chr9' is in none of the inputs"),
        ({"holdouts": HoldoutPolicy(intervals=(HoldoutInterval("3", 5, 9),))}, "holdout.bed: contig '3'"),
        ({"holdouts": HoldoutPolicy(edit_keys=("chrZ:5:A:G",))}, "holdout.keys: contig 'chrZ'"),
        ({"holdouts": HoldoutPolicy(), "split": "val"}, "split=val: the holdout removes no windows"),
    ],
)
def test_builder_validation(small_genome, kwargs, message):
    fasta, _ = small_genome
    args = {"windows": ReferenceWindows(fasta=fasta, window_bp=1_000, stride_bp=1_000, margin_bp=0),
            "mix": {"synthetic_snv": 2}, "fallback_sources": {}}
    args.update(kwargs)
    with pytest.raises(ConfigError, match=message):
        make(**args)


def test_vcf_contigs_must_match_reference(small_genome, tmp_path):
    fasta, _ = small_genome
    vcf = write_vcf(tmp_path / "genbank.vcf", {"CM000663.2": 40_000}, ["CM000663.2\t500\t.\tA\tC\t.\tPASS\tAF=0.5"])
    with pytest.raises(ConfigError,
                       match=r"providers.gnomad_common: no contig of .*genbank.vcf.gz \(CM000663.2\) matches"):
        make(ReferenceWindows(fasta=fasta), provider_map=providers(vcf), mix=DEFAULT_EDIT_SOURCE_COUNTS)


def test_blocks_return_their_counts(small_genome):
    fasta, _ = small_genome
    builder = make(ReferenceWindows(fasta=fasta, window_bp=2_000, stride_bp=2_000, margin_bp=0),
                   mix={"synthetic_snv": 1}, fallback_sources={}, holdouts=HoldoutPolicy(holdout_chroms=("chr2",)))
    out = list(builder.iter_windows())
    assert len(out) == 20 and all(len(tuples) == 1 for _, tuples in out)
    blocks = list(builder.iter_blocks(7))
    assert sum(b.kept for b in blocks) == 20 and sum(b.excluded_by_holdout for b in blocks) == 15
    assert sum(b.seen for b in blocks) == 35 and [t for b in blocks for t in b.tuples] == [t for _, ts in out for t in ts]
    again = builder.run_block(0, 7)  # a block is computed afresh: nothing accumulates in the builder
    assert again.counts() == blocks[0].counts()


def test_aliases_across_inputs(small_genome, tmp_path):
    """A chr-named FASTA with a VCF, holdouts and chromosome list written without the prefix."""
    fasta, seqs = small_genome
    rows = [f"{c}\t{p + 1}\t.\t{seqs['chr' + c][p]}\t{'A' if seqs['chr' + c][p] != 'A' else 'C'}\t.\tPASS\tAF=0.5"
            for c in ("1", "2") for p in range(300, len(seqs["chr" + c]) - 100, 97)]
    vcf = write_vcf(tmp_path / "nochr.vcf", {"1": 40_000, "2": 30_000}, rows)
    builder = make(
        ReferenceWindows(fasta=fasta, window_bp=2_000, stride_bp=2_000, margin_bp=0, contigs=["1", "2"]),
        provider_map=providers(vcf), mix={"gnomad_common": 2}, fallback_sources={},
        holdouts=HoldoutPolicy(holdout_chroms=("2",), intervals=(HoldoutInterval("1", 0, 1_000),),
                               edit_keys=(f"1:{301}:{rows[0].split()[3]}:{rows[0].split()[4]}",)),
    )
    assert builder.holdouts.holdout_chroms == ("chr2",)
    out = list(builder.iter_windows())
    assert {w.chrom for w, _ in out} == {"chr1"} and out[0][0].start_bp == 2_000
    for window, tuples in out:
        assert len(tuples) == 2 and all(t.edit_source == "gnomad_common" for t in tuples)
        for t in tuples:
            (e,) = t.rel_edits
            assert seqs["chr1"][window.start_bp + e.rel_pos] == e.ref


def test_multi_edit_tuples_partial_fallback(vcf_with_two_common):
    w = WindowContext("chr1", "ref", SEQ, 1_000, "chr1", left_flank="ACGT" * 16, right_flank="TTGA" * 16)
    tuples = build_training_tuples(
        w, providers(vcf_with_two_common), seed=2,
        mix=Mix((EditSourceCount("gnomad_common", 1),), MultiEdit(fraction=1.0, max_edits=4)),
    )
    (t,) = tuples
    assert 2 <= len(t.rel_edits) <= 4
    assert t.edit_sources.count("gnomad_common") == 2 and t.edit_source == "gnomad_common+synthetic_snv"
    assert fallbacks_of(tuples) == {"gnomad_common->synthetic_snv": len(t.rel_edits) - 2}
    positions = [e.rel_pos for e in t.rel_edits]
    assert positions == sorted(positions)


def test_multi_edit_fraction_and_sizes():
    p = providers()
    sizes = collections.Counter()
    for i in range(60):
        w = WindowContext("chr1", "ref", random_seq(1_000, 100 + i), 1_000 * i, "chr1", window_index=i)
        for t in build_training_tuples(w, p, seed=1, mix=Mix({"synthetic_indel": 5}, MultiEdit(0.25, 3))):
            sizes[len(t.rel_edits)] += 1
            spans = [(e.rel_pos, e.end) for e in t.rel_edits]
            assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    assert set(sizes) == {1, 2, 3} and abs(1 - sizes[1] / 300 - 0.25) < 0.08


def test_flank_must_cover_multi_edit_deletions(small_genome):
    fasta, _ = small_genome
    windows = ReferenceWindows(fasta=fasta, window_bp=1_000, stride_bp=1_000, margin_bp=0, flank_bp=40)
    with pytest.raises(ConfigError, match="windows.flank_bp=40: .* flank_bp >= 45"):
        make(windows, mix=Mix({"synthetic_snv": 1}, MultiEdit(fraction=0.1, max_edits=3)), fallback_sources={})
    with pytest.raises(ConfigError, match="target.pad='X'"):
        make(windows, mix={"synthetic_snv": 1}, fallback_sources={}, pad="X")


# The seed's contract for build_training_tuples: its own arguments are checked, named in the error.
@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda p: build_training_tuples("chr1:0", p, seed=1), ContractError, "window='chr1:0'.*WindowContext"),
        (lambda p: build_training_tuples(W, p, seed=1, mix={"nope": 1}), ConfigError, "mix.counts.nope: no provider"),
        (lambda p: build_training_tuples(W, p, seed=1, mix=(EditSourceCount("synthetic_snv", 1),
                                                           EditSourceCount("synthetic_snv", 2))),
         ConfigError, "mix.counts.synthetic_snv: listed twice"),
        (lambda p: build_training_tuples(W, p, seed=1, mix=[("synthetic_snv", 1)]), ConfigError,
         "not an EditSourceCount"),
        (lambda p: build_training_tuples(W, {**p, "bad": lambda *a, **k: ["x"]}, seed=1, mix={"bad": 1}),
         ContractError, "provider 'bad' returned 'x'.*not a RelEdit"),
        (lambda p: build_training_tuples(W, {**p, "bad": 3}, seed=1), ContractError, "providers.bad=3"),
        (lambda p: build_training_tuples(W, p), ContractError, "exactly one of seed"),
        (lambda p: build_training_tuples(W, p, seed=True), ContractError, "seed=True"),
        (lambda p: build_training_tuples(W, p, rng=7), ContractError, "rng=7"),
    ],
)
def test_build_training_tuples_checks_its_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call({**providers(), "gnomad_common": SyntheticSnv(), "clinvar": SyntheticSnv()})


W = WindowContext("chr1", "ref", SEQ, 1_000, "chr1")


def test_seed_style_rng_and_functions():
    import random

    def snv_at_100(window, rng, count):
        return [RelEdit(100, window.sequence[100], "A" if window.sequence[100] != "A" else "C")]

    p = {"fixed": snv_at_100, "synthetic_snv": SyntheticSnv()}
    a = build_training_tuples(W, p, rng=random.Random(4), mix={"fixed": 1, "synthetic_snv": 2}, fallback_sources={})
    b = build_training_tuples(W, p, rng=random.Random(4), mix={"fixed": 1, "synthetic_snv": 2}, fallback_sources={})
    assert a == b and a[0].rel_edits[0].rel_pos == 100 and len(a) == 3
