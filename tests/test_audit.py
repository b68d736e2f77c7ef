"""The audit passes real builds and names the first row of a tampered one."""

import hashlib
import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from genolewm.audit import AuditError, audit_run
from genolewm.build import run


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from conftest import composed

    runs = {}
    for name, overrides in {
        "rfc_multi": ["holdout=rfc", "mix=multi", "audit=true"],
        "val": ["holdout=chr8", "split=val"],
        "lean_pad_n": ["output.store_targets=false", "target.pad=N", "mix=multi"],
        "corpus": ["windows=corpus"],
        "regions": ["windows=regions", "windows.window_bp=4096", "windows.stride_bp=2048"],
        "common_indels": ["experiment=common_indels", "holdout=chr8"],
        "arrays": ["output=arrays", "holdout=rfc", "output.windows_per_shard=9"],
        "haplotypes": ["providers=with_haplotypes", "mix=haplotypes", "mix.counts.haplotypes=4", "holdout=chr8"],
    }.items():
        path = tmp_path_factory.mktemp(name)
        runs[name] = (path, run(composed(overrides), str(path), progress=False))
    return runs


@pytest.mark.parametrize("name", ["rfc_multi", "val", "lean_pad_n", "corpus", "regions", "common_indels", "arrays",
                                  "haplotypes"])
def test_audit_passes_real_builds(built, name):
    path, manifest = built[name]
    assert audit_run(path) == {"windows": manifest["windows"]["kept"], "tuples": manifest["tuples"]["total"]}
    if name == "rfc_multi":
        assert manifest["audit"]["tuples"] == manifest["tuples"]["total"]


def copy_run(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def rewrite(path, table, row, column, change):
    part = path / table / "part-00000.parquet"
    data = pq.read_table(part)
    rows = data.to_pylist()
    rows[row][column] = change(rows[row][column])
    pq.write_table(pa.Table.from_pylist(rows, schema=data.schema), part)


def first_row(path, predicate):
    rows = pq.read_table(path / "tuples" / "part-00000.parquet").to_pylist()
    return next(i for i, r in enumerate(rows) if predicate(r))


def other_base(b):
    return {"A": "C", "C": "G", "G": "T", "T": "A"}[b]


def new_alt(edit):
    edit["alt"] = next(b for b in "ACGT" if b not in (edit["ref"], edit["alt"]))


def new_ref(edit):
    edit["ref"] = other_base(edit["ref"])
    if edit["ref"] == edit["alt"]:
        edit["alt"] = other_base(edit["alt"])


@pytest.mark.parametrize("source, change, message", [
    ("gnomad_common", new_alt, r"edit .* from gnomad_common: no record"),
    ("synthetic_snv", new_ref, r"edit .* REF differs from the window"),
])
def test_tampered_edit(built, tmp_path, source, change, message):
    import pysam

    from genolewm.demo import DEMO_DIR

    with pysam.VariantFile(str(DEMO_DIR / "gnomad.vcf.gz")) as vcf:
        alleles = {(r.chrom, r.pos, r.ref, alt) for r in vcf for alt in r.alts or ()}

    def tampered_is_new(edit):  # the changed allele must not be another record at the same site
        edit = dict(edit)
        change(edit)
        return (edit["chrom"], edit["pos"], edit["ref"], edit["alt"]) not in alleles

    run_dir = copy_run(built["rfc_multi"][0], tmp_path / "r")
    i = first_row(run_dir, lambda r: r["edits"][0]["source"] == source and r["edits"][0]["edit_type"] == "SNV"
                  and tampered_is_new(r["edits"][0]))

    def tamper(edits):
        change(edits[0])
        return edits

    rewrite(run_dir, "tuples", i, "edits", tamper)
    with pytest.raises(AuditError, match=rf"tuples/part-00000.parquet row {i}: {message}"):
        audit_run(run_dir)


@pytest.mark.parametrize("what, message", [
    ("another sample", r"edits are not {sample} haplotype {hap}'s alleles in the window per .*panel.vcf.gz"),
    ("the other haplotype", r"edits are not {sample} haplotype {hap}'s alleles in the window per .*panel.vcf.gz"),
    ("a name the panel lacks",
     r"sample 'HG99999' haplotype {hap} is not a haplotype of providers.haplotypes's samples"),
    ("no sample", r"sample None haplotype None is not a haplotype"),
])
def test_tampered_haplotype_identity(built, tmp_path, what, message):
    """A haplotype tuple's sample and haplotype say whose alleles its edits are: the audit reads them again
    from the phased VCF and names the row whose edits are not that haplotype's."""
    run_dir = copy_run(built["haplotypes"][0], tmp_path / "r")
    rows = pq.read_table(run_dir / "tuples" / "part-00000.parquet").to_pylist()
    i = first_row(run_dir, lambda r: r["edit_source"] == "haplotypes" and len(r["edits"]) >= 2)
    samples = sorted({r["sample"] for r in rows if r["sample"]})
    sample, hap = rows[i]["sample"], rows[i]["haplotype"]
    if what == "another sample":
        sample = next(s for s in samples if s != sample and not any(
            r["sample"] == s and r["haplotype"] == hap and r["window_index"] == rows[i]["window_index"] for r in rows))
    elif what == "the other haplotype":
        hap = 1 - hap
    elif what == "a name the panel lacks":
        sample = "HG99999"
    else:
        sample = hap = None
    rewrite(run_dir, "tuples", i, "sample", lambda _: sample)
    rewrite(run_dir, "tuples", i, "haplotype", lambda _: hap)
    expected = message.format(sample=sample, hap=hap)
    with pytest.raises(AuditError, match=rf"tuples/part-00000.parquet row {i}: {expected}"):
        audit_run(run_dir)


def test_haplotype_fields_only_on_haplotype_slots(built, tmp_path):
    run_dir = copy_run(built["haplotypes"][0], tmp_path / "r")
    i = first_row(run_dir, lambda r: r["requested_source"] == "gnomad_common")
    rewrite(run_dir, "tuples", i, "sample", lambda _: "HG00096")
    with pytest.raises(AuditError, match=rf"row {i}: a gnomad_common tuple names sample 'HG00096'"):
        audit_run(run_dir)


def test_tampered_target(built, tmp_path):
    run_dir = copy_run(built["rfc_multi"][0], tmp_path / "r")
    rewrite(run_dir, "tuples", 5, "target_window", lambda t: t[:100] + other_base(t[100]) + t[101:])
    with pytest.raises(AuditError, match="row 5: target_window is not the window with its edits applied"):
        audit_run(run_dir)


def test_tampered_window_and_manifest(built, tmp_path):
    run_dir = copy_run(built["val"][0], tmp_path / "w")
    rewrite(run_dir, "windows", 2, "sequence", lambda s: s[:500] + other_base(s[500]) + s[501:])
    with pytest.raises(AuditError, match="windows/part-00000.parquet row 2: window_id is not the sha256"):
        audit_run(run_dir)
    run_dir = copy_run(built["val"][0], tmp_path / "m")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["tuples"]["total"] += 1
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(AuditError, match="manifest.json: tuples.total is"):
        audit_run(run_dir)


def test_holdout_violation(built, tmp_path):
    """A config claiming chr1 was held out: the train run's chr1 windows now violate it."""
    run_dir = copy_run(built["rfc_multi"][0], tmp_path / "h")
    text = (run_dir / "config.yaml").read_text().replace("- chr21", "- chr1")
    (run_dir / "config.yaml").write_text(text)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["config_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(AuditError, match=r"windows/part-00000.parquet row 0: window chr1:\d+ is held out but is in the train split"):
        audit_run(run_dir)


@pytest.mark.slow
def test_audit_cli(built, tmp_path):
    ok = subprocess.run([sys.executable, "-m", "genolewm.audit", str(built["corpus"][0])], capture_output=True, text=True)
    assert ok.returncode == 0 and "genolewm.audit: ok:" in ok.stdout
    run_dir = copy_run(built["corpus"][0], tmp_path / "c")
    (run_dir / "config.yaml").write_text("tampered: true\n")
    bad = subprocess.run([sys.executable, "-m", "genolewm.audit", str(run_dir)], capture_output=True, text=True)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
    assert "config.yaml: its sha256 differs" in bad.stderr


def test_build_with_failed_audit_is_not_finished(compose_cfg, tmp_path, monkeypatch):
    import genolewm.audit

    def failing(run_dir, progress):
        raise AuditError(f"{run_dir}: tuples/part-00000.parquet row 0: simulated")

    monkeypatch.setattr(genolewm.audit, "audit_run", failing)  # the build imports it when it audits
    with pytest.raises(AuditError, match="simulated"):
        run(compose_cfg(["audit=true", "mix=snv_only"]), str(tmp_path), progress=False)
    assert (tmp_path / "manifest.failed.json").is_file() and not (tmp_path / "manifest.json").exists()


def test_regions_windows_lie_inside_the_regions(built, tmp_path):
    import pysam

    path, manifest = built["regions"]
    windows = pq.read_table(path / "windows").to_pylist()
    spans = [(40_000, 70_000), (100_000, 113_000), (10_000, 30_000)]
    assert manifest["windows"]["kept"] == len(windows) > 3
    assert all(any(lo <= w["start_bp"] and w["end_bp"] <= hi for lo, hi in spans) for w in windows)
    assert {i["path"].rsplit("/", 1)[-1] for i in manifest["inputs"]} >= {"ref.fa", "regions.bed"}
    fasta = next(i["path"] for i in manifest["inputs"] if i["path"].endswith("ref.fa"))
    assert windows[0]["sequence"] == pysam.FastaFile(fasta).fetch("chr1", 40_000, 44_096).upper()
    # A config pointing at other regions than the windows were tiled in fails the audit.
    run_dir = copy_run(path, tmp_path / "r")
    other = tmp_path / "other.bed"
    other.write_text("chr21\t10000\t30000\n")
    config = run_dir / "config.yaml"
    text = config.read_text().replace(next(i["path"] for i in manifest["inputs"] if i["path"].endswith("regions.bed")),
                                      str(other))
    config.write_text(text)
    patched = json.loads((run_dir / "manifest.json").read_text())
    patched["config_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    for item in patched["inputs"]:  # the manifest lists the new BED, as a consistent tampering would
        if item["path"].endswith("regions.bed"):
            item.update(path=str(other), size=other.stat().st_size,
                        sha256=hashlib.sha256(other.read_bytes()).hexdigest())
    (run_dir / "manifest.json").write_text(json.dumps(patched))
    with pytest.raises(AuditError, match=r"windows/part-00000.parquet row 0: window chr1:40000-44096 is not inside"):
        audit_run(run_dir)


def test_fifth_source_is_audited_like_any_vcf_source(built, tmp_path):
    path, manifest = built["common_indels"]
    assert manifest["tuples"]["by_requested_source"]["common_indels"] == manifest["windows"]["kept"]
    tuples = pq.read_table(path / "tuples").to_pylist()
    served = [e for t in tuples for e in t["edits"] if e["source"] == "common_indels"]
    assert served and all(e["edit_type"] in ("INS", "DEL") for e in served)
    run_dir = copy_run(path, tmp_path / "c")
    i = next(i for i, t in enumerate(tuples) if t["edit_source"] == "synthetic_snv")
    relabel = lambda edits: [{**e, "source": "common_indels"} for e in edits]  # noqa: E731
    rewrite(run_dir, "tuples", i, "edits", relabel)
    rewrite(run_dir, "tuples", i, "edit_source", lambda _: "common_indels")
    with pytest.raises(AuditError, match=rf"tuples/part-00000.parquet row {i}: edit .* from common_indels: "):
        audit_run(run_dir)


def test_corpus_windows_are_checked_against_the_corpus(built, tmp_path):
    run_dir = copy_run(built["corpus"][0], tmp_path / "c")
    seq = pq.read_table(run_dir / "windows").column("sequence")[1].as_py()
    rewrite(run_dir, "windows", 1, "sequence", lambda s: s[:5000] + ("A" if s[5000] != "A" else "C") + s[5001:])
    rewrite(run_dir, "windows", 1, "window_id", lambda _: hashlib.sha256(
        (seq[:5000] + ("A" if seq[5000] != "A" else "C") + seq[5001:]).encode()).hexdigest())
    with pytest.raises(AuditError, match="windows/part-00000.parquet row 1: sequence differs from the corpus"):
        audit_run(run_dir)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda a: a.edit_checker("fn", {"kind": "function", "name": "fn"}), "providers.fn: provider kind 'function'"),
        (lambda a: a.edit_checker("v", {"kind": "vcf", "path": "x", "filter": {"max_allele_len": 16, "predicates": [
            {"kind": "gc_content"}]}}), "filter predicate kind 'gc_content'"),
        (lambda a: a.Sequences({"kind": "in_memory"}), "windows kind 'in_memory'"),
        (lambda a: a.HoldoutCheck({"kind": "mask"}), "holdout kind 'mask'"),
    ],
)
def test_components_the_audit_cannot_check_are_errors(make, message):
    import genolewm.audit.checks as audit

    with pytest.raises(AuditError, match=message + ".*the audit cannot check it"):
        make(audit)


@pytest.mark.slow
def test_audit_cli_takes_runs_and_sweeps(built, tmp_path):
    sweep = tmp_path / "sweep"
    for job in ("0", "1"):
        copy_run(built["corpus"][0], sweep / job)
    (sweep / "1" / "config.yaml").write_text("tampered: true\n")
    out = subprocess.run([sys.executable, "-m", "genolewm.audit", str(built["val"][0]), str(sweep),
                          str(tmp_path / "missing")], capture_output=True, text=True)
    assert out.returncode == 1
    assert [line.split(": ")[1] for line in out.stdout.splitlines()] == ["ok", "ok"]
    assert str(sweep / "0") in out.stdout.splitlines()[1]
    errors = out.stderr.strip().splitlines()
    assert len(errors) == 2 and "1/config.yaml: its sha256 differs" in errors[0]
    assert errors[1] == f"genolewm.audit: FAIL: {tmp_path / 'missing'}: no such run directory"


@pytest.mark.parametrize("key, change, message", [
    ("af", lambda af: af + 0.5, "af .* is not the record's"),
    ("clnsig", lambda _: ["Benign"], "clnsig .* is not the record's"),
    ("id", lambda _: "rs1", "id 'rs1' is not the record's None"),
    ("pos", lambda pos: pos + 1, "says chr1:"),
])
def test_variant_identity_is_checked(built, tmp_path, key, change, message):
    run_dir = copy_run(built["rfc_multi"][0], tmp_path / "v")
    tuples = pq.read_table(run_dir / "tuples" / "part-00000.parquet").to_pylist()
    source = "clinvar" if key == "clnsig" else "gnomad_common"
    i = next(i for i, t in enumerate(tuples) if t["edit_source"] == source)
    rewrite(run_dir, "tuples", i, "edits", lambda edits: [{**e, key: change(e[key])} for e in edits])
    with pytest.raises(AuditError, match=rf"row {i}: edit .*{message}"):
        audit_run(run_dir)


def test_edits_say_which_variant_they_are(built):
    path, _ = built["rfc_multi"]
    edits = [e for t in pq.read_table(path / "tuples").to_pylist() for e in t["edits"]]
    gnomad = [e for e in edits if e["source"] == "gnomad_common"]
    clinvar = [e for e in edits if e["source"] == "clinvar"]
    synthetic = [e for e in edits if e["source"].startswith("synthetic")]
    assert gnomad and all(e["af"] >= 0.01 and e["clnsig"] is None for e in gnomad)
    assert clinvar and all(e["af"] is None and e["clnsig"] for e in clinvar)
    assert all(e["id"] is None and e["af"] is None and e["clnsig"] is None for e in synthetic)
    assert all(e["chrom"] in ("chr1", "chr8", "chr21") and e["pos"] > 0 for e in edits)
