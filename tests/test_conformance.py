"""The audit re-implements on purpose what it checks; here builder and audit meet the same cases,
so the two copies cannot drift apart."""

import gzip

import numpy as np
import pysam
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genolewm.audit import checks as audit
from genolewm.bed import read_bed, read_keys
from genolewm.demo import DEMO_DIR
from genolewm.edits import adjusted_side, apply_edits
from genolewm.holdout import HoldoutPolicy
from genolewm.providers import AlleleFilter, SyntheticIndel, SyntheticSnv
from genolewm.providers.filters import variant_note
from genolewm.providers.records import header_layout, record_batches
from genolewm.tokens import SIDE_CODES, FlatEdits, decode, edited_tokens, encode
from genolewm.types import RelEdit, WindowContext, edit_type

from conftest import random_seq

alleles = st.text("ACGT", min_size=1, max_size=16)


@given(alleles, alleles)
def test_edit_type(ref, alt):
    assert edit_type(ref, alt) == audit.edit_type_of(ref, alt)


@st.composite
def window_and_edits(draw):
    seq = draw(st.text("ACGTN", min_size=200, max_size=260))
    left, right = draw(st.text("ACGT", max_size=60)), draw(st.text("ACGT", max_size=60))
    edits, pos = [], draw(st.integers(0, 20))
    while pos < len(seq) - 20 and len(edits) < 4:
        length = draw(st.integers(1, 8))
        ref = seq[pos : pos + length]
        alt = draw(alleles)
        if "N" not in ref and alt != ref:
            edits.append(RelEdit(pos, ref, alt))
        pos += length + draw(st.integers(0, 60))
    return seq, left, right, edits


@settings(max_examples=300, deadline=None)
@given(window_and_edits(), st.booleans())
def test_targets(case, preserve):
    seq, left, right, edits = case
    if not edits:
        return
    rows = [{"rel_pos": e.rel_pos, "ref": e.ref, "alt": e.alt} for e in edits]
    built = apply_edits(seq, edits, left_flank=left, right_flank=right, preserve_length=preserve)
    expected, side = audit.expected_target(left, seq, right, rows, preserve)
    assert built == expected
    assert (adjusted_side(len(seq), edits) if preserve else None) == side


FILTERS = {
    "gnomad": dict(min_af=0.01),
    "clinvar": dict(clnsig=["Pathogenic", "Likely_pathogenic", "Pathogenic/Likely_pathogenic"]),
    "common_indels": dict(min_af=0.05, edit_types=["INS", "DEL"]),
    "all_filters": dict(min_af=0.01, clnsig=["Pathogenic"], pass_only=False, max_allele_len=5),
}


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_allele_filters(name):
    """Every ACGT allele of the demo VCFs: the provider's filter and the audit's check agree."""
    path = str(DEMO_DIR / ("clinvar.vcf.gz" if name == "clinvar" else "gnomad.vcf.gz"))
    if name == "all_filters":
        path = _with_clnsig(path)
    filt = AlleleFilter.from_settings(**FILTERS[name])
    source = audit.VcfSource(name, {"path": path, "filter": filt.spec()})
    checked = usable = 0
    with pysam.VariantFile(path) as vcf:
        n_columns, info_lists = header_layout(vcf.header, filt.info_fields())
        lines = [str(rec).rstrip("\n") for rec in vcf]
    for batch in record_batches(["\n".join(lines).encode()], n_columns, info_lists, path):
        selected = filt.select(batch)
        reasons = filt.reasons(batch)
        kept = iter(range(len(selected.start)))
        chroms = batch.column("CHROM").to_pylist()
        for row, (ref, alt, reason) in enumerate(zip(batch.ref.to_pylist(), batch.alt.to_pylist(), reasons)):
            k = next(kept) if reason is None else None
            note = None if k is None else variant_note(selected.id[k], selected.af[k], selected.clnsig[k])
            if reason in ("symbolic", "spanning_deletion", "non_acgt", "ref_equals_alt"):
                continue  # not an edit the audit can be shown
            if reason == "too_long" and max(len(ref), len(alt)) > 16:
                continue
            chrom, start = chroms[batch.rec[row]], int(batch.start[row])
            why = source.why_not(chrom, start, ref, alt)
            assert (why is None) == (reason is None), (chrom, start, ref, alt, reason, why)
            if reason is None:  # the note the provider gives is the one the audit expects
                as_row = {"id": note.id, "af": note.af, "clnsig": None if note.clnsig is None else list(note.clnsig)}
                assert source.why_not(chrom, start, ref, alt, as_row) is None
            checked += 1
            usable += reason is None
    assert checked > 100 and 0 < usable < checked


def _with_clnsig(path):
    """The demo gnomAD VCF with CLNSIG added to every record (so one VCF exercises every predicate)."""
    import tempfile

    out = tempfile.mkdtemp() + "/both.vcf"
    lines = gzip.decompress(open(path, "rb").read()).decode().splitlines()
    with open(out, "w") as handle:
        for i, line in enumerate(lines):
            if line.startswith("#CHROM"):
                handle.write('##INFO=<ID=CLNSIG,Number=.,Type=String,Description="sig">\n')
            elif not line.startswith("#"):
                cols = line.split("\t")
                cols[7] += ";CLNSIG=" + ("Pathogenic" if i % 3 else "Benign")
                line = "\t".join(cols)
            handle.write(line + "\n")
    pysam.tabix_index(out, preset="vcf", force=True)
    return out + ".gz"


def test_holdouts(tmp_path):
    # Indented comments, track lines and blank lines: both parsers skip them alike.
    bed, keys = tmp_path / "h.bed", tmp_path / "k.txt"
    bed.write_text("track name=held\n  # a comment\n\n" + (DEMO_DIR / "holdout.bed").read_text())
    keys.write_text("\t# held for the benchmark\n" + (DEMO_DIR / "holdout_keys.txt").read_text() + "\n  \n")
    bed, keys = str(bed), str(keys)
    policy = HoldoutPolicy.from_files(chroms=["chr21"], bed=bed, keys=keys, record_ids=["carbon_001"])
    theirs = audit.HoldoutCheck(policy.audit_spec())
    assert len(read_bed(bed)) == sum(len(v) for v in theirs.intervals.values())
    assert {k.split(":", 1)[1] for k in read_keys(keys)} == {k.split(":", 1)[1] for k in theirs.keys}
    for chrom in ("chr1", "chr8", "chr21", None):
        for start in range(0, 200_000, 1_500):
            seq = "ACGT" * 500
            w = WindowContext("carbon_001" if start == 3_000 else (chrom or "rec"), "s", seq, start, chrom)
            row = {"record_id": w.record_id, "chrom": w.chrom, "start_bp": w.start_bp, "end_bp": w.end_bp}
            assert policy.excludes_window(w) == theirs.holds_window(row), row
    for key in read_keys(keys):
        chrom, pos, ref, alt = key.split(":")
        if ref and alt and max(len(ref), len(alt)) <= 16:
            start = max(0, int(pos) - 101)
            edit = RelEdit(int(pos) - 1 - start, ref, alt)
            w = WindowContext(chrom, "s", "A" * 3_000, start, chrom)
            assert policy.excludes_edit(w, edit) == theirs.holds_key(chrom, int(pos), ref, alt) is True


@pytest.mark.parametrize("provider, spec", [(SyntheticSnv(), {"kind": "synthetic_snv"}),
                                            (SyntheticIndel(max_event_bp=6), {"kind": "synthetic_indel",
                                                                               "max_event_bp": 6})])
def test_synthetic_shapes(provider, spec):
    import random

    window = WindowContext("r", "s", random_seq(3_000, 5))
    edits = provider(window, random.Random(3), 400, edge_margin=64)
    assert len(edits) > 300 and provider.audit_spec().items() >= spec.items()
    assert all(audit.why_not_synthetic(spec, e.ref, e.alt) is None for e in edits)
    other = {"kind": "synthetic_indel", "max_event_bp": 6} if spec["kind"] == "synthetic_snv" else {
        "kind": "synthetic_snv"}
    assert all(audit.why_not_synthetic(other, e.ref, e.alt) for e in edits)


@settings(max_examples=200, deadline=None)
@given(st.lists(window_and_edits(), min_size=1, max_size=5), st.booleans())
def test_targets_as_tokens(cases, flank_pad):
    """RunDataset's batched target rebuild on tokens is apply_edits, tuple by tuple (pad flank or N)."""
    cases = [(seq[:200], left, right, [e for e in edits if e.end <= 200])
             for seq, left, right, edits in cases]
    cases = [case for case in cases if case[3]]
    if not cases:
        return
    edits = [e for _, _, _, es in cases for e in es]
    flat = FlatEdits.from_strings([e.rel_pos for e in edits], [e.edit_type.name for e in edits],
                                  [e.ref for e in edits], [e.alt for e in edits])
    flanks = [(encode([left])[0], encode([right])[0]) if flank_pad else (np.zeros(0, np.uint8),) * 2
              for _, left, right, _ in cases]
    sides = np.array([SIDE_CODES[adjusted_side(200, es)] for _, _, _, es in cases], np.int8)
    got = edited_tokens(encode([seq for seq, *_ in cases]), np.array([len(c[3]) for c in cases]), flat, sides,
                        flanks.__getitem__)
    for row, (seq, left, right, es) in zip(got, cases):
        if not flank_pad:
            left = right = ""
        assert decode(row) == apply_edits(seq, es, left_flank=left, right_flank=right)
