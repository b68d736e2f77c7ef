import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genolewm.edits import RelEdit, edit_key
from genolewm.errors import InputError
from genolewm.bed import read_bed, read_keys
from genolewm.holdout import HoldoutPolicy
from genolewm.types import HoldoutInterval
from genolewm.windows import WindowContext

intervals = st.lists(
    st.tuples(st.sampled_from(["chr1", "chr2"]), st.integers(0, 500), st.integers(1, 200)).map(
        lambda t: HoldoutInterval(t[0], t[1], t[1] + t[2])
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(intervals, st.sampled_from(["chr1", "chr2", "chr3"]), st.integers(0, 700), st.integers(1, 300))
def test_interval_lookup_matches_brute_force(ivs, chrom, start, length):
    policy = HoldoutPolicy(intervals=tuple(ivs))
    window = WindowContext("r", "ref", "A" * length, start_bp=start, chrom=chrom)
    expected = any(iv.intersects(chrom, start, start + length) for iv in ivs)
    assert policy.excludes_window(window) == expected


def test_half_open_boundaries():
    policy = HoldoutPolicy(intervals=(HoldoutInterval("chr1", 100, 200),))
    touch_left = WindowContext("r", "ref", "A" * 100, start_bp=0, chrom="chr1")
    touch_right = WindowContext("r", "ref", "A" * 100, start_bp=200, chrom="chr1")
    inside = WindowContext("r", "ref", "A" * 100, start_bp=199, chrom="chr1")
    assert not policy.excludes_window(touch_left)
    assert not policy.excludes_window(touch_right)
    assert policy.excludes_window(inside)


def test_chrom_record_and_key_holdouts():
    policy = HoldoutPolicy(holdout_chroms=("chr8",), edit_keys=("chr1:1006:A:G",), record_ids=("carbon_1",))
    assert policy.excludes_window(WindowContext("chr8", "ref", "ACGT", 0, "chr8"))
    assert policy.excludes_window(WindowContext("carbon_1", "corpus", "ACGT"))
    assert not policy.excludes_window(WindowContext("carbon_2", "corpus", "ACGT"))
    window = WindowContext("chr1", "ref", "ACGTAAAA", 1000, "chr1")
    assert policy.excludes_edit(window, RelEdit(5, "A", "G"))
    assert not policy.excludes_edit(window, RelEdit(5, "A", "T"))
    assert not policy.excludes_edit(WindowContext("x", "corpus", "ACGTAAAA", 1000), RelEdit(5, "A", "G"))


chroms = st.sampled_from(["chr1", "chr2", "HLA-A*01:01:01:01"])
bases = st.text("ACGT", min_size=1, max_size=2)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(chroms, st.integers(1, 40), st.booleans(), bases, bases), max_size=8),
       st.lists(st.tuples(chroms, st.integers(0, 20), st.integers(0, 20), bases, bases), min_size=1, max_size=20))
def test_key_holdout_is_the_key_lookup(keys, edits):
    """Keys (contigs with colons, positions written with a leading zero) hold out exactly the edits whose
    key is one of them."""
    keys = [f"{c}:{'0' if zero else ''}{pos}:{ref}:{alt}" for c, pos, zero, ref, alt in keys]
    policy = HoldoutPolicy(edit_keys=tuple(keys))
    for chrom, start, rel, ref, alt in edits:
        if ref == alt:
            continue
        window, edit = WindowContext(chrom, "ref", "A" * 40, start, chrom), RelEdit(rel, ref, alt)
        assert policy.excludes_edit(window, edit) == (edit_key(chrom, start, edit) in keys)
        assert not policy.excludes_edit(WindowContext(chrom, "corpus", "A" * 40, start), edit)


def test_files(tmp_path):
    bed = tmp_path / "h.bed"
    bed.write_text("track name=x\nchr1\t10\t20\textra\n# note\nchr2 5 6\n")
    assert read_bed(str(bed)) == [HoldoutInterval("chr1", 10, 20), HoldoutInterval("chr2", 5, 6)]
    bad = tmp_path / "bad.bed"
    bad.write_text("chr1\t20\t10\n")
    with pytest.raises(InputError, match="bad.bed:1"):
        read_bed(str(bad))
    keys = tmp_path / "k.txt"
    keys.write_text("chr1:5:A:G\nchrUn_KI270742v1:9:AC:A\n")
    assert read_keys(str(keys)) == ["chr1:5:A:G", "chrUn_KI270742v1:9:AC:A"]
    keys.write_text("chr1:0:A:G\n")
    with pytest.raises(InputError, match="k.txt:1"):
        read_keys(str(keys))
    with pytest.raises(InputError, match="paths.holdout_bed: file not found"):
        HoldoutPolicy.from_files(bed=str(tmp_path / "missing.bed"))


def test_identity_covers_every_exclusion():
    a = HoldoutPolicy(holdout_chroms=("chr8", "chr21"), edit_keys=("chr1:5:A:G", "chr1:9:C:T"))
    assert a.identity() == HoldoutPolicy(holdout_chroms=("chr8", "chr21"),
                                         edit_keys=("chr1:5:A:G", "chr1:9:C:T")).identity()
    assert a.identity() != HoldoutPolicy(holdout_chroms=("chr8",), edit_keys=a.edit_keys).identity()
    assert a.identity() != HoldoutPolicy().identity() and a.identity().startswith("sha256:")


def test_inputs_and_audit_spec_name_the_files(tmp_path):
    bed, keys = tmp_path / "h.bed", tmp_path / "k.txt"
    bed.write_text("chr1\t5\t9\n")
    keys.write_text("  # an indented comment\nchr1:5:A:G\n")
    policy = HoldoutPolicy.from_files(chroms=["chr8"], bed=str(bed), keys=str(keys))
    assert policy.inputs() == (str(bed), str(keys)) and policy.edit_keys == ("chr1:5:A:G",)
    assert policy.audit_spec() == {"kind": "policy", "chroms": ["chr8"], "bed": str(bed), "keys": str(keys),
                                   "record_ids": []}


def test_contig_aliases():
    from genolewm.contigs import ContigNames, canonical

    assert canonical("chr1") == canonical("1") == "1"
    assert canonical("chrM") == canonical("MT") == canonical("chrMT") == "MT"
    assert canonical("chrx") == canonical("X") == "X"
    names = ContigNames(["chr1", "chrX", "chrM"])
    assert names.find("1") == "chr1" and names.find("MT") == "chrM" and names.find("chrX") == "chrX"
    assert names.find("2") is None and "x" in names
    ensembl = ContigNames(["1", "X", "MT"])
    assert ensembl.find("chrM") == "MT"
