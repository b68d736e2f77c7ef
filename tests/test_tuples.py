"""TupleBlock: a block's tuples as columns, made into TrainingTuples and targets exactly as the builder did."""

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genolewm.builder import TupleBuilder, TupleSettings, window_tuples
from genolewm.edits import apply_edits
from genolewm.errors import EditError
from genolewm.mix import Mix, MultiEdit
from genolewm.providers import SyntheticIndel, SyntheticSnv
from genolewm.tuples import TupleBlock
from genolewm.types import RelEdit, TrainingTuple, WindowContext
from genolewm.windows import ReferenceWindows


alleles = st.text("ACGT", min_size=1, max_size=6)


@st.composite
def windows_with_edits(draw):
    """Windows (some with N, flanks of any length) and, per window, tuples of non-overlapping edits of
    every shape: SNVs, MNVs, insertions, deletions and length-changing replacements."""
    windows, tuples = [], []
    # Windows of one length make targets rows of one matrix; of several, strings one by one.
    length = draw(st.one_of(st.none(), st.integers(60, 90)))
    for w in range(draw(st.integers(1, 3))):
        seq = draw(st.text("ACGTN", min_size=length or 60, max_size=length or 90))
        left, right = draw(st.text("ACGT", max_size=30)), draw(st.text("ACGT", max_size=30))
        windows.append(WindowContext(f"r{w}", "s", seq, start_bp=100 * w, chrom="chr1", window_index=w,
                                     left_flank=left, right_flank=right))
        for _ in range(draw(st.integers(0, 4))):
            edits, pos = [], draw(st.integers(0, 10))
            while pos < len(seq) - 8 and len(edits) < 3:
                ref = seq[pos : pos + draw(st.integers(1, 6))]
                alt = draw(st.one_of(alleles, st.just("ACGT"[len(ref) % 4] * len(ref))))
                if "N" not in ref and alt != ref:
                    edits.append(RelEdit(pos, ref, alt))
                pos += len(ref) + draw(st.integers(0, 30))
            if edits:
                tuples.append((w, tuple(edits)))
    return windows, tuples


def block_of(windows, tuples, pad, preserve):
    block = TupleBlock(pad, preserve)
    for window in windows:
        block.add_window(window)
    for k, (row, edits) in enumerate(tuples):
        block.append(row, k, "synthetic_snv", ("synthetic_snv",) * len(edits), edits, ())
    return block


@settings(max_examples=300, deadline=None)
@given(windows_with_edits(), st.sampled_from(["flank", "N"]), st.booleans())
def test_bulk_targets_are_apply_edits(case, pad, preserve):
    windows, tuples = case
    block = block_of(windows, tuples, pad, preserve)
    ends, data = block.target_bytes()
    expected = []
    for row, edits in tuples:
        w = windows[row]
        flanks = (w.left_flank, w.right_flank) if pad == "flank" else ("", "")
        expected.append(apply_edits(w.sequence, edits, left_flank=flanks[0], right_flank=flanks[1],
                                    preserve_length=preserve))
    assert [bytes(data[a:b]).decode() for a, b in zip(ends[:-1], ends[1:])] == expected
    assert [t.target_window for t in block] == block.column("target_window") == expected


def test_bulk_targets_name_a_ref_mismatch():
    window = WindowContext("r", "s", "ACGTACGTAC", chrom="chr1")
    block = block_of([window], [(0, (RelEdit(2, "T", "A"),))], "flank", True)
    with pytest.raises(EditError, match=r"window 0 \(r:0-10\): edit 2:T:A REF does not match the window bases 'G'"):
        block.target_bytes()


@pytest.fixture
def builder(small_genome):
    fasta, _ = small_genome
    mix = Mix({"synthetic_snv": 2, "synthetic_indel": 2}, MultiEdit(0.5, max_edits=3))
    return TupleBuilder(windows=ReferenceWindows(fasta=fasta, window_bp=2_000, stride_bp=1_500, margin_bp=0),
                        providers={"synthetic_snv": SyntheticSnv(), "synthetic_indel": SyntheticIndel()},
                        seed=4, settings=TupleSettings(mix=mix, fallback_sources={}))


def test_block_is_the_windows_tuples(builder):
    """A block's tuples, its slices and its columns are what window_tuples makes window by window."""
    block = builder.run_block(0, 12)
    expected = [t for w in block.windows
                for t in window_tuples(w, builder.providers, builder.seed, builder.settings)[0]]
    assert len(block.tuples) == len(expected) == 4 * 12 and list(block.tuples) == expected
    assert any(len(t.rel_edits) > 1 for t in expected) and any(t.adjusted_side for t in expected)
    assert list(block.tuples[5:17]) == expected[5:17] and block.tuples[-1] == expected[-1]
    for name in (f.name for f in dataclasses.fields(TrainingTuple)):
        assert block.tuples.column(name) == [getattr(t, name) for t in expected], name


def test_a_provider_edit_that_misses_the_window_stops_the_draw(small_genome):
    fasta, _ = small_genome

    class WrongRef(SyntheticSnv):  # a subclass's attempts are checked like any provider's draws
        def attempt(self, seq, lo, hi, u, at=0):
            other = "A" if seq[100] != "A" else "C"
            return RelEdit(100, other, "G" if other != "G" else "T")

    builder = TupleBuilder(windows=ReferenceWindows(fasta=fasta, window_bp=2_000, stride_bp=2_000, margin_bp=0),
                           providers={"synthetic_snv": WrongRef()}, settings=TupleSettings(mix={"synthetic_snv": 1},
                                                                                           fallback_sources={}))
    with pytest.raises(EditError, match=r"window 0 \(chr1:0-2000\), source synthetic_snv: edit 100:.* REF does not "
                                        r"match the window bases"):
        builder.run_block(0, 1)
