"""End to end on the bundled demo: python -m genolewm.build mix=default holdout=chr8 (in-process).

Every check here reads the inputs with pysam directly rather than through the builder.
"""

import collections
import filecmp

import pyarrow.parquet as pq
import pysam
import pytest

from genolewm.build import run
from genolewm.config import make_builder
from genolewm.runs import read_tuples, read_windows

CLINVAR_OK = {"Pathogenic", "Likely_pathogenic", "Pathogenic/Likely_pathogenic"}


def rows(run_dir, table):
    return pq.read_table(run_dir / table).to_pylist()


@pytest.fixture(scope="module")
def demo(demo_build):
    run_dir, manifest, cfg = demo_build
    windows = {w["window_index"]: w for w in rows(run_dir, "windows")}
    return run_dir, manifest, cfg, windows, rows(run_dir, "tuples")


def test_layout_and_manifest(demo):
    run_dir, manifest, _, windows, tuples = demo
    assert sorted(p.name for p in run_dir.iterdir()) == [".genolewm.lock", "README.md", "config.yaml", "manifest.json",
                                                         "tuples", "windows"]
    assert (run_dir / "windows" / "part-00000.parquet").is_file()
    assert manifest["windows"]["kept"] == len(windows) > 0
    assert manifest["tuples"]["total"] == len(tuples) == 8 * len(windows)
    assert manifest["windows"]["excluded_by_holdout"] > 0
    assert manifest["windows"]["skipped_n"] > 0
    w = manifest["windows"]
    assert w["seen"] == w["kept"] + w["excluded_by_holdout"] + w["skipped_n"]
    assert sum(manifest["tuples"]["by_edit_source"].values()) == len(tuples)
    assert manifest["tuples"]["by_requested_source"] == dict(collections.Counter(t["requested_source"] for t in tuples))
    assert manifest["tuples"]["by_edit_source"] == dict(collections.Counter(t["edit_source"] for t in tuples))
    fallbacks = collections.Counter(
        f"{t['requested_source']}->{t['edit_source']}" for t in tuples if t["requested_source"] != t["edit_source"])
    assert manifest["fallbacks"] == dict(fallbacks) and fallbacks
    assert {"gnomad_common:af_below_min", "gnomad_common:symbolic", "gnomad_common:too_long",
            "gnomad_common:not_pass", "gnomad_common:spanning_deletion"} <= set(manifest["variants_skipped"])
    assert {i["path"].rsplit("/", 1)[-1] for i in manifest["inputs"]} >= {
        "ref.fa", "ref.fa.fai", "gnomad.vcf.gz", "gnomad.vcf.gz.tbi", "clinvar.vcf.gz"}
    assert all(len(i["sha256"]) == 64 and i["size"] > 0 for i in manifest["inputs"])
    assert len(manifest["config_sha256"]) == 64
    identity = manifest["data_identity"]
    assert list(identity) == ["schema_version", "seed", "split", "windows", "providers", "mix", "fallbacks", "holdout",
                              "edge_margin", "target", "inputs"]
    assert identity["holdout"].startswith("sha256:") and len(identity["inputs"]) == 3
    from genolewm.types import digest

    assert manifest["data_sha256"] == digest(identity)
    assert manifest["format"]["name"] == "parquet" and "reader" not in manifest["format"]


def test_no_chr8_anywhere(demo):
    _, _, _, windows, _ = demo
    assert {w["chrom"] for w in windows.values()} == {"chr1", "chr21"}


def test_exact_mix_per_window(demo):
    _, _, _, windows, tuples = demo
    per_window = collections.defaultdict(collections.Counter)
    for t in tuples:
        per_window[t["window_index"]][t["requested_source"]] += 1
    assert set(per_window) == set(windows)
    for counts in per_window.values():
        assert counts == {"gnomad_common": 3, "synthetic_snv": 3, "synthetic_indel": 1, "clinvar": 1}


def vcf_alleles(path, keep):
    out = set()
    with pysam.VariantFile(path) as vf:
        for rec in vf:
            for i, alt in enumerate(rec.alts or ()):
                if keep(rec, i):
                    out.add((rec.chrom, rec.pos, rec.ref, alt))
    return out


def test_edits_are_real_filtered_variants_with_matching_ref(demo):
    _, _, cfg, windows, tuples = demo
    def common(rec, i):
        af = rec.info.get("AF") or ()
        return list(rec.filter) == ["PASS"] and i < len(af) and af[i] is not None and af[i] >= 0.01

    gnomad = vcf_alleles(cfg.paths.gnomad, common)
    clinvar = vcf_alleles(cfg.paths.clinvar, lambda r, i: list(r.filter) == ["PASS"] and
                          bool({t for v in r.info["CLNSIG"] for t in v.split("|")} & CLINVAR_OK))
    seen = collections.Counter()
    with pysam.FastaFile(cfg.paths.reference) as fa:
        for t in tuples:
            w = windows[t["window_index"]]
            (edit,) = t["edits"]
            pos = w["start_bp"] + edit["rel_pos"]
            assert fa.fetch(w["chrom"], pos, pos + len(edit["ref"])).upper() == edit["ref"]
            assert 64 <= edit["rel_pos"] and edit["rel_pos"] + len(edit["ref"]) <= 12_288 - 64
            key = (w["chrom"], pos + 1, edit["ref"], edit["alt"])
            if t["edit_source"] == "gnomad_common":
                assert key in gnomad
            if t["edit_source"] == "clinvar":
                assert key in clinvar
            seen[t["edit_source"]] += 1
    assert seen["gnomad_common"] and seen["clinvar"]


def check_targets_against_genome(fasta, windows, tuples, pad="flank"):
    """Oracle: apply a tuple's edits to the chromosome itself and cut the window on the anchored side."""
    with pysam.FastaFile(fasta) as fa:
        chroms = {c: fa.fetch(c).upper() for c in {w["chrom"] for w in windows.values()}}
    types = collections.Counter()
    for t in tuples:
        w = windows[t["window_index"]]
        chrom, start, n = chroms[w["chrom"]], w["start_bp"], 12_288
        edited = chrom
        for e in sorted(t["edits"], key=lambda e: -e["rel_pos"]):
            pos = start + e["rel_pos"]
            assert chrom[pos : pos + len(e["ref"])] == e["ref"]
            edited = edited[:pos] + e["alt"] + edited[pos + len(e["ref"]):]
            types[e["edit_type"]] += 1
        delta = len(edited) - len(chrom)
        first = min(e["rel_pos"] for e in t["edits"])
        last = max(e["rel_pos"] + len(e["ref"]) for e in t["edits"])
        side = None if delta == 0 else ("right" if first + last < n else "left")
        assert t["adjusted_side"] == side
        lo = start + delta if side == "left" else start
        expected = edited[lo : lo + n]
        if pad == "N" and delta < 0:
            raw = edited[start : start + n + delta]
            expected = raw + "N" * -delta if side == "right" else "N" * -delta + raw
        assert t["target_window"] == expected
        assert w["sequence"] == chrom[start : start + n]
    return types


def test_targets_are_the_genome_with_the_edit(demo):
    _, _, cfg, windows, tuples = demo
    types = check_targets_against_genome(cfg.paths.reference, windows, tuples)
    assert {"SNV", "INS", "DEL"} <= set(types)


def test_multi_edit_mix(compose_cfg, tmp_path):
    cfg = compose_cfg(["mix=multi", "mix.multi_edit.fraction=0.3"])
    manifest = run(cfg, str(tmp_path), progress=False)
    windows = {w["window_index"]: w for w in rows(tmp_path, "windows")}
    tuples = rows(tmp_path, "tuples")
    sizes = collections.Counter(len(t["edits"]) for t in tuples)
    assert set(sizes) == {1, 2, 3, 4} and 0.2 < 1 - sizes[1] / len(tuples) < 0.4
    for t in tuples:
        spans = [(e["rel_pos"], e["rel_pos"] + len(e["ref"])) for e in t["edits"]]
        assert spans == sorted(spans) and all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
        sources = {e["source"] for e in t["edits"]}
        assert t["edit_source"] == "+".join(sorted(sources))
    check_targets_against_genome(cfg.paths.reference, windows, tuples)
    assert manifest["mix"]["multi_edit"] == {"fraction": 0.3, "max_edits": 4}
    assert list(read_tuples(tmp_path)) == [t for _, ts in make_builder(cfg)[0].iter_windows() for t in ts]


def test_pad_n_uses_n_instead_of_flanks(compose_cfg, tmp_path):
    cfg = compose_cfg(["target.pad=N", "mix=multi"])
    run(cfg, str(tmp_path), progress=False)
    windows = {w["window_index"]: w for w in rows(tmp_path, "windows")}
    tuples = rows(tmp_path, "tuples")
    shortened = [t for t in tuples if sum(len(e["alt"]) - len(e["ref"]) for e in t["edits"]) < 0]
    assert shortened and all("N" in t["target_window"] for t in shortened)
    check_targets_against_genome(cfg.paths.reference, windows, tuples, pad="N")


def test_reader_matches_live_builder(demo):
    run_dir, _, cfg, _, _ = demo
    builder, _ = make_builder(cfg)
    live = [t for _, tuples in builder.iter_windows() for t in tuples]
    assert list(read_tuples(run_dir)) == live
    assert [w.window_index for w in read_windows(run_dir)] == sorted({t.window_index for t in live})


def test_same_seed_byte_identical_other_seed_differs(demo, compose_cfg, tmp_path):
    run_dir, _, _, _, tuples = demo
    again = tmp_path / "again"
    run(compose_cfg(["mix=default", "holdout=chr8"]), str(again), progress=False)
    for table in ("windows", "tuples"):
        assert filecmp.cmp(run_dir / table / "part-00000.parquet", again / table / "part-00000.parquet", shallow=False)
    other = tmp_path / "seed1"
    run(compose_cfg(["mix=default", "holdout=chr8", "seed=1"]), str(other), progress=False)
    synth = lambda ts: [t["edits"] for t in ts if t["edit_source"].startswith("synthetic")]  # noqa: E731
    assert synth(rows(other, "tuples")) != synth(tuples)


def test_targets_not_stored_are_recomputed(demo, compose_cfg, tmp_path):
    run_dir, _, _, _, _ = demo
    lean = tmp_path / "lean"
    run(compose_cfg(["mix=default", "holdout=chr8", "output.store_targets=false", "output.windows_per_shard=4"]),
        str(lean), progress=False)
    assert "target_window" not in pq.read_schema(lean / "tuples" / "part-00000.parquet").names
    assert len(list((lean / "tuples").glob("part-*.parquet"))) > 1
    assert list(read_tuples(lean)) == list(read_tuples(run_dir))


@pytest.mark.parametrize("holdout", ["chr21", "intervals", "keys", "rfc"])
def test_holdout_options(compose_cfg, tmp_path, holdout):
    cfg = compose_cfg([f"holdout={holdout}", "mix=realism"])
    manifest = run(cfg, str(tmp_path), progress=False)
    windows = rows(tmp_path, "windows")
    with open(cfg.paths.holdout_keys) as fh:
        keys = {line.strip() for line in fh if line.strip()}
    intervals = [line.split() for line in open(cfg.paths.holdout_bed)]
    by_index = {w["window_index"]: w for w in windows}
    for w in windows:
        if holdout in ("chr21", "rfc"):
            assert w["chrom"] != "chr21"
        if holdout in ("intervals", "rfc"):
            assert not any(c == w["chrom"] and int(s) < w["end_bp"] and w["start_bp"] < int(e) for c, s, e in intervals)
    emitted = {f"{by_index[t['window_index']]['chrom']}:{by_index[t['window_index']]['start_bp'] + e['rel_pos'] + 1}:"
               f"{e['ref']}:{e['alt']}" for t in rows(tmp_path, "tuples") for e in t["edits"]}
    if holdout in ("keys", "rfc"):
        assert not emitted & keys
    assert manifest["windows"]["excluded_by_holdout"] > 0 or holdout == "keys"


def test_corpus_windows_build(compose_cfg, tmp_path):
    manifest = run(compose_cfg(["windows=corpus", "holdout.record_ids=[carbon_001]"]), str(tmp_path), progress=False)
    windows = rows(tmp_path, "windows")
    assert windows and all(w["chrom"] is None for w in windows)
    assert {w["record_id"] for w in windows} == {"carbon_000", "carbon_002"}  # carbon_003 is too short
    assert {w["source"] for w in windows} == {"carbon"}
    assert manifest["windows"]["excluded_by_holdout"] == 2
    assert set(manifest["tuples"]["by_edit_source"]) == {"synthetic_snv", "synthetic_indel"}
    assert manifest["fallbacks"] == {"gnomad_common->synthetic_snv": 3 * len(windows),
                                     "clinvar->synthetic_snv": len(windows)}


def test_corpus_fastq_gz_with_labels(compose_cfg, tmp_path):
    import gzip

    from conftest import random_seq

    fastq = tmp_path / "reads.fq.gz"
    with gzip.open(fastq, "wt") as fh:
        for i, label in enumerate(["viral", None, "viral"]):
            seq = random_seq(15_000, 40 + i)
            fh.write(f"@read{i}{' source=' + label if label else ''}\n{seq}\n+\n{'I' * len(seq)}\n")
    run(compose_cfg(["experiment=corpus_pretrain", f"paths.corpus={fastq}", "windows.source=unlabelled"]),
        str(tmp_path / "run"), progress=False)
    labels = {w["record_id"]: w["source"] for w in rows(tmp_path / "run", "windows")}
    assert labels == {"read0": "viral", "read1": "unlabelled", "read2": "viral"}


def test_validation_split_is_the_complement(compose_cfg, demo, tmp_path):
    _, train_manifest, _, train_windows, _ = demo
    manifest = run(compose_cfg(["mix=default", "holdout=chr8", "split=val"]), str(tmp_path), progress=False)
    windows = rows(tmp_path, "windows")
    assert {w["chrom"] for w in windows} == {"chr8"}
    assert manifest["split"] == "val" and manifest["windows"]["kept"] == train_manifest["windows"]["excluded_by_holdout"]
    assert not {w["window_index"] for w in windows} & set(train_windows)
    per_window = collections.Counter(t["window_index"] for t in rows(tmp_path, "tuples"))
    assert set(per_window.values()) == {8}


def test_validation_split_needs_window_holdout(compose_cfg, tmp_path):
    from genolewm.errors import ConfigError

    with pytest.raises(ConfigError, match="split=val: the holdout removes no windows"):
        run(compose_cfg(["holdout=keys", "split=val"]), str(tmp_path), progress=False)
