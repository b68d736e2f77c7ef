import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genolewm.edits import RelEdit, apply_edits, check_in_margins, edit_key, edit_type
from genolewm.errors import EditError

bases = st.text(alphabet="ACGT", min_size=1, max_size=16)


def test_edit_types():
    assert edit_type("A", "C") == "SNV"
    assert edit_type("AC", "GT") == "MNV"
    assert edit_type("A", "ACG") == "INS"
    assert edit_type("ACG", "A") == "DEL"
    assert edit_type("ACG", "TT") == "INDEL"


@given(st.lists(st.tuples(bases, bases).filter(lambda p: p[0] != p[1]), min_size=1, max_size=50))
@settings(max_examples=200, deadline=None)
def test_edit_types_in_bulk_equal_edit_type(pairs):
    """The Parquet writer types a shard's edits by array arithmetic: the same as edit_type, pair by pair."""
    from genolewm.store.schema import _edit_types

    refs, alts = [r for r, _ in pairs], [a for _, a in pairs]
    assert _edit_types(refs, alts) == [edit_type(r, a) for r, a in pairs]


@pytest.mark.parametrize(
    "args", [(-1, "A", "C"), (0, "a", "C"), (0, "A", "N"), (0, "A", "A"), (0, "A" * 17, "C"), (0, "", "C")]
)
def test_invalid_edits_rejected(args):
    with pytest.raises(EditError):
        RelEdit(*args)


def test_edit_key_is_one_based():
    assert edit_key("chr1", 1000, RelEdit(5, "A", "G")) == "chr1:1006:A:G"


def test_margins():
    check_in_margins(RelEdit(64, "A", "C"), 200, 64, lambda: "w")
    check_in_margins(RelEdit(135, "A", "C"), 200, 64, lambda: "w")
    for edit in (RelEdit(63, "A", "C"), RelEdit(135, "AC", "C"), RelEdit(136, "A", "C")):
        with pytest.raises(EditError, match="outside the edge margins"):
            check_in_margins(edit, 200, 64, lambda: "w")


def test_ref_mismatch_is_an_error():
    with pytest.raises(EditError, match="REF does not match"):
        apply_edits("ACGTACGT", [RelEdit(1, "G", "T")])


def test_overlapping_edits_rejected():
    with pytest.raises(EditError, match="overlap"):
        apply_edits("ACGTACGT", [RelEdit(1, "CG", "C"), RelEdit(2, "G", "A")])


def test_deletion_on_left_pulls_real_right_flank():
    seq = "AAAACCCCGGGGTTTT"
    out = apply_edits(seq, [RelEdit(2, "AAC", "A")], left_flank="GG", right_flank="TAGC")
    assert out == "AA" + "A" + "CCCGGGGTTTT" + "TA"


def test_deletion_on_right_pulls_real_left_flank():
    seq = "AAAACCCCGGGGTTTT"
    out = apply_edits(seq, [RelEdit(12, "TTT", "T")], left_flank="GCA", right_flank="")
    assert out == "CA" + "AAAACCCCGGGG" + "T" + "T"


def test_insertion_trims_the_far_side():
    seq = "AAAACCCCGGGGTTTT"
    assert apply_edits(seq, [RelEdit(1, "A", "AGG")]) == "AAGGAACCCCGGGGTT"
    assert apply_edits(seq, [RelEdit(14, "T", "TGG")]) == "AACCCCGGGGTTTGGT"


def test_n_padding_only_where_flank_runs_out():
    assert apply_edits("ACGTACGT", [RelEdit(1, "CGT", "C")], right_flank="A") == "ACACGTAN"


def test_no_preserve_length_returns_raw_edit():
    assert apply_edits("ACGTACGT", [RelEdit(1, "CGT", "C")], preserve_length=False) == "ACACGT"


@st.composite
def window_and_edits(draw):
    seq = draw(st.text(alphabet="ACGT", min_size=40, max_size=120))
    left = draw(st.text(alphabet="ACGT", min_size=0, max_size=40))
    right = draw(st.text(alphabet="ACGT", min_size=0, max_size=40))
    n_edits = draw(st.integers(1, 3))
    positions = sorted(draw(st.lists(st.integers(0, len(seq) - 1), min_size=n_edits, max_size=n_edits, unique=True)))
    edits, cursor = [], 0
    for pos in positions:
        if pos < cursor:
            continue
        ref_len = draw(st.integers(1, min(16, len(seq) - pos)))
        ref = seq[pos : pos + ref_len]
        alt = draw(bases.filter(lambda a, r=ref: a != r))
        edits.append(RelEdit(pos, ref, alt))
        cursor = pos + ref_len
    return seq, left, right, edits


@settings(max_examples=300, deadline=None)
@given(window_and_edits())
def test_apply_matches_genome_level_edit(case):
    """Against an oracle: edit the whole (flank + window + flank) string, then cut the anchored window."""
    seq, left, right, edits = case
    genome = left + seq + right
    edited = genome
    for e in sorted(edits, key=lambda e: -e.rel_pos):
        p = len(left) + e.rel_pos
        edited = edited[:p] + e.alt + edited[p + len(e.ref):]
    delta = sum(len(e.alt) - len(e.ref) for e in edits)
    out = apply_edits(seq, edits, left_flank=left, right_flank=right)
    assert len(out) == len(seq)
    raw = apply_edits(seq, edits, preserve_length=False)
    assert len(raw) == len(seq) + delta
    if delta == 0:
        assert out == raw
        return
    left_anchored = edits[0].rel_pos + edits[-1].end < len(seq)
    start = len(left) if left_anchored else len(left) + delta
    padded = "N" * 200 + edited + "N" * 200
    assert out == padded[start + 200 : start + 200 + len(seq)]
    # Bases on the anchored side are untouched reference.
    if left_anchored:
        assert out[: edits[0].rel_pos] == seq[: edits[0].rel_pos]
    else:
        assert out[len(out) - (len(seq) - edits[-1].end):] == seq[edits[-1].end:]


def test_adjusted_side():
    from genolewm.edits import adjusted_side

    assert adjusted_side(100, [RelEdit(10, "A", "C")]) is None
    assert adjusted_side(100, [RelEdit(10, "AC", "A")]) == "right"
    assert adjusted_side(100, [RelEdit(80, "A", "AC")]) == "left"
    assert adjusted_side(100, [RelEdit(10, "AC", "A"), RelEdit(95, "A", "AC")]) is None
    assert adjusted_side(100, [RelEdit(10, "ACG", "A"), RelEdit(95, "A", "AC")]) == "left"
