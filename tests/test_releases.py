"""The first real build: GRCh38 FASTAs, gnomAD v4.1 and ClinVar weekly as researchers download them
(release-shaped files from tests/releases.py)."""

import json
import shutil
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pysam
import pytest

import releases
from conftest import composed, release_paths
from genolewm.audit import AuditError, audit_run
from genolewm.build import run
from genolewm.config import make_builder
from genolewm.errors import ConfigError
from genolewm.prepare import allele_filter, prepare_vcf
from genolewm.providers.filters import AlleleFilter
from genolewm.providers.records import header_layout, record_batches, split_terms

DEFAULT_CLNSIG = ["Pathogenic", "Likely_pathogenic", "Pathogenic/Likely_pathogenic"]


def build(files, tmp_path, *extra, gnomad="joint"):
    overrides = release_paths(files, gnomad) + [f"providers=gnomad_v4_{gnomad}", "holdout=chr8", "audit=true",
                                                *extra]
    return run(composed(overrides), str(tmp_path), progress=False)


@pytest.fixture(scope="module")
def joint_build(releases_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("joint_build")
    return path, build(releases_dir, path)


def test_first_real_build_completes_counts_and_audits(releases_dir, joint_build):
    path, manifest = joint_build
    assert manifest["audit"]["tuples"] == manifest["tuples"]["total"] > 0
    # Every code of the analysis set lies in a window; each base is counted once, by code.
    assert manifest["masked_bases"] == dict(sorted(Counter(c.upper() for _, _, c in releases.IUPAC).items()))
    assert manifest["sequences"]["windows"] == {
        "tiled": 6, "left_out": {"mitochondrion": 1, "random": 1, "unplaced": 1, "ebv": 1}}
    assert set(manifest["windows_by_chrom"]) == {f"chr{c}" for c in releases.CHROMOSOMES}
    # ClinVar's NT_/NW_ contigs are counted, with their records; no error while others match.
    assert manifest["sequences"]["not_in_reference"] == {"clinvar": {"NT_187361.1": 2, "NW_009646201.1": 1}}
    # ClinVar's MT records: chrM is in the reference but not tiled by default.
    assert manifest["sequences"]["not_tiled"] == {"clinvar": {"MT": 1}}
    skipped = manifest["variants_skipped"]
    # gnomAD REFs at IUPAC bases are their own reason, never a REF mismatch.
    assert skipped["gnomad_common:ref_ambiguous"] >= 1 and "gnomad_common:ref_mismatch" not in skipped
    assert skipped["gnomad_common:not_pass"] > 0 and skipped["gnomad_common:af_below_min"] > 0
    for reason in ("clnsig_missing", "clnsig_not_selected", "no_alt", "alt_n"):
        assert skipped[f"clinvar:{reason}"] > 0, reason
    served = manifest["tuples"]["by_edit_source"]
    assert served["gnomad_common"] > 0 and served["clinvar"] > 0
    # What the CLNSIG filter took and left, by classification as written (the audit recounted it).
    clnsig = manifest["clnsig"]["clinvar"]
    assert clnsig["Pathogenic"]["selected"] > 0 and clnsig["Pathogenic|risk_factor"]["selected"] > 0
    for value in ("Pathogenic,_low_penetrance", "Benign", "Conflicting_classifications_of_pathogenicity"):
        assert clnsig[value]["selected"] == 0 < clnsig[value]["rejected"], value
    assert clnsig["."] == {"selected": 0, "rejected": skipped["clinvar:clnsig_missing"]}
    assert "gnomad_common" not in manifest["clnsig"]


def test_clinvar_edits_carry_a_selected_classification(joint_build):
    path, _ = joint_build
    terms = Counter()
    for part in sorted((path / "tuples").glob("*.parquet")):
        for edits in pq.read_table(part, columns=["edits"]).column("edits").to_pylist():
            for e in edits:
                if e["source"] == "clinvar":
                    assert set(e["clnsig"]) & set(DEFAULT_CLNSIG), e
                    assert "_low_penetrance" not in "".join(e["clnsig"])
                    terms.update(e["clnsig"])
    assert terms["Pathogenic"] and not {t for t in terms if t.startswith("_")}


def test_a_wrong_classification_count_fails_the_audit(joint_build, tmp_path):
    run_dir = shutil.copytree(joint_build[0], tmp_path / "m")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["clnsig"]["clinvar"]["Pathogenic,_low_penetrance"]["selected"] += 1
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(AuditError, match="manifest.json: clnsig of clinvar is"):
        audit_run(run_dir)


def test_tampered_release_build_fails_the_audit_naming_the_row(joint_build, tmp_path):
    run_dir = shutil.copytree(joint_build[0], tmp_path / "r")
    part = run_dir / "tuples" / "part-00000.parquet"
    table = pq.read_table(part)
    rows = table.to_pylist()
    i = next(k for k, r in enumerate(rows) if r["edits"][0]["source"] == "clinvar")
    rows[i]["edits"][0]["clnsig"] = ["Pathogenic,_low_penetrance"]
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), part)
    with pytest.raises(AuditError, match=rf"tuples/part-00000.parquet row {i}: .*clnsig"):
        audit_run(run_dir)


@pytest.mark.parametrize("style", ["ucsc", "ensembl", "gatk", "refseq"])
def test_other_grch38_fastas_build_the_chromosomes(releases_dir, tmp_path, style):
    """UCSC (alts, N for IUPAC), Ensembl (1, MT), the GATK bundle (3,000+ sequences) and RefSeq names, with
    gnomAD's chr names and ClinVar's bare ones."""
    reference = releases.grch38_fasta(tmp_path, style)
    files = {**releases_dir, "reference": reference}
    manifest = build(files, tmp_path / "run", "holdout=none")
    assert manifest["sequences"]["windows"]["tiled"] == 6
    assert sorted(manifest["windows_by_chrom"]) == sorted(reference.chromosomes.values())
    assert manifest["masked_bases"] == ({} if style != "gatk" else
                                        dict(sorted(Counter(c.upper() for _, _, c in releases.IUPAC).items())))
    assert manifest["variants_skipped"]["gnomad_common:ref_ambiguous"] >= 1
    assert "gnomad_common:ref_mismatch" not in manifest["variants_skipped"]


@pytest.mark.parametrize("kind", ["genomes", "exomes"])
def test_genomes_and_exomes_presets_read_af(releases_dir, tmp_path, kind):
    manifest = build(releases_dir, tmp_path, gnomad=kind)
    assert manifest["tuples"]["by_edit_source"]["gnomad_common"] > 0


def test_an_af_field_the_header_lacks_names_the_frequency_fields(releases_dir, compose_cfg):
    cfg = compose_cfg(release_paths(releases_dir, "joint"))  # providers=default reads AF
    with pytest.raises(ConfigError) as caught:
        make_builder(cfg)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("providers.gnomad_common.af_field='AF': INFO field not declared in ")
    assert "AF_joint, " in message and "more" in message and "providers=gnomad_v4_joint" in message


def clinvar_selection(path, **settings):
    """Which records of a ClinVar file a filter keeps and why it skips the others, by record ID."""
    filt = AlleleFilter.from_settings(**settings)
    with pysam.VariantFile(path) as vcf:
        n_columns, info_lists = header_layout(vcf.header, filt.info_fields())
        body = "".join(str(rec) for rec in vcf).encode()
    (batch,) = record_batches([body], n_columns, info_lists, path)
    ids = batch.column("ID").to_pylist()
    return {int(ids[int(batch.rec[k])]): reason for k, reason in enumerate(filt.reasons(batch).tolist())}


def test_clnsig_is_matched_by_whole_classification(releases_dir):
    records = {r.id: r for r in releases_dir["clinvar_records"]}
    got = clinvar_selection(releases_dir["clinvar"], clnsig=DEFAULT_CLNSIG)
    for rid, reason in got.items():
        r = records[rid]
        terms = set(split_terms(r.clnsig)) if r.clnsig else set()
        if r.alt == ".":
            assert reason == "no_alt"
        elif r.alt == "N":
            assert reason == "alt_n"
        elif r.clnsig is None:
            assert reason == "clnsig_missing"
        elif terms & set(DEFAULT_CLNSIG):
            assert reason is None, r
        else:
            assert reason == "clnsig_not_selected", r
    by_value = {records[rid].clnsig: reason for rid, reason in got.items() if records[rid].alt in "ACGT"}
    assert by_value["Pathogenic,_low_penetrance"] == "clnsig_not_selected"  # never Pathogenic by accident
    assert by_value["Likely_pathogenic,_low_penetrance"] == "clnsig_not_selected"
    assert by_value["Pathogenic|risk_factor"] is None and by_value["Pathogenic/Likely_pathogenic|other"] is None
    assert by_value["Conflicting_classifications_of_pathogenicity"] == "clnsig_not_selected"
    # The comma-containing classification is one term, selectable by name.
    low = clinvar_selection(releases_dir["clinvar"], clnsig=["Pathogenic,_low_penetrance"])
    kept = {records[rid].clnsig for rid, reason in low.items() if reason is None}
    assert kept == {"Pathogenic,_low_penetrance"}
    assert split_terms("Pathogenic/Likely_pathogenic/Pathogenic,_low_penetrance|risk_factor") == [
        "Pathogenic/Likely_pathogenic/Pathogenic,_low_penetrance", "risk_factor"]


def test_onc_terms_select_oncogenicity_only_records(releases_dir):
    records = {r.id: r for r in releases_dir["clinvar_records"]}
    got = clinvar_selection(releases_dir["clinvar"], clnsig=DEFAULT_CLNSIG, onc=["Oncogenic", "Likely_oncogenic"])
    onc_kept = [rid for rid, reason in got.items() if reason is None and records[rid].clnsig is None]
    assert onc_kept and all(records[rid].onc in ("Oncogenic", "Likely_oncogenic") for rid in onc_kept)
    assert all(got[rid] == "clnsig_not_selected" for rid, r in records.items()
               if rid in got and r.onc in ("Uncertain_significance", "Likely_benign"))


def test_prepare_with_a_reference_names_every_drop(releases_dir, tmp_path, compose_cfg):
    cfg = compose_cfg(release_paths(releases_dir, "joint") + ["providers=gnomad_v4_joint"])
    reference = releases_dir["reference"].path
    clinvar = prepare_vcf(releases_dir["clinvar"], str(tmp_path / "clinvar.prepared.vcf.gz"),
                          allele_filter(cfg.providers.clinvar), reference=reference, ref_mismatch="error")
    assert clinvar["dropped"]["contig_not_in_reference"] == 3  # NT_ and NW_ records, not a REF mismatch
    for reason in ("clnsig_missing", "clnsig_not_selected", "no_alt", "alt_n"):
        assert clinvar["dropped"][reason] > 0
    gnomad = prepare_vcf(releases_dir["joint"], str(tmp_path / "gnomad.prepared.vcf.gz"),
                         allele_filter(cfg.providers.gnomad_common), reference=reference, ref_mismatch="error")
    assert gnomad["dropped"]["ref_ambiguous"] >= 1 and "ref_mismatch" not in gnomad["dropped"]
    with pysam.VariantFile(tmp_path / "gnomad.prepared.vcf.gz") as vcf:
        assert list(vcf.header.info) == ["AF_joint"]
        assert all(rec.info["AF_joint"][0] >= 0.01 for rec in vcf)
    report = json.dumps(gnomad)
    assert "AF_joint" in report


def test_the_report_shows_what_was_read_as_n_left_out_and_classified(joint_build):
    from genolewm.build import summary
    from genolewm.report import run_stats, write_report

    path, manifest = joint_build
    stats = run_stats(path)
    assert stats.masked_bases == manifest["masked_bases"] and stats.classified == manifest["clnsig"]
    html = write_report(path).read_text()
    for text in ("Reference bases read as N (IUPAC codes)", "<td>M</td><td>1</td>", "left out: ebv",
                 "clinvar: NT_187361.1</td><td>2</td>", "CLNSIG classifications of clinvar",
                 "<td>Pathogenic,_low_penetrance</td><td>selected 0, rejected"):
        assert text in html, text
    lines = summary(str(path), manifest)
    assert "left out: mitochondrion 1, random 1, unplaced 1, ebv 1" in lines
    assert "read as N: B 1, K 1, M 1, R 2, S 1, W 1, Y 1" in lines
    assert "clinvar records on contigs not in the reference: NT_187361.1 2, NW_009646201.1 1" in lines
    assert "clinvar records on contigs the windows do not tile: MT 1" in lines
    assert "clinvar: MT</td><td>1</td>" in html


def test_a_build_that_also_takes_oncogenic_records_audits(releases_dir, tmp_path):
    manifest = build(releases_dir, tmp_path, "providers.clinvar.onc=[Oncogenic,Likely_oncogenic]", "holdout=none")
    assert manifest["audit"]["tuples"] == manifest["tuples"]["total"]
    rejected_missing = manifest["variants_skipped"]["clinvar:clnsig_missing"]
    plain = build(releases_dir, tmp_path / "plain", "holdout=none")
    # ONC-only records are taken now, so fewer records lack a classification the filter reads.
    assert rejected_missing < plain["variants_skipped"]["clinvar:clnsig_missing"]
    assert manifest["clnsig"]["clinvar"]["."]["selected"] > 0 == plain["clnsig"]["clinvar"]["."]["selected"]


@pytest.mark.slow
def test_prepare_without_the_joint_preset_names_the_key_to_set(releases_dir, tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "genolewm.prepare", "source=gnomad", f"input={releases_dir['joint']}",
                          f"hydra.run.dir={tmp_path}"], capture_output=True, text=True)
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("genolewm.prepare: error: providers.gnomad_common.af_field='AF': INFO field not declared")
    assert "set providers.gnomad_common.af_field to one of them" in line and "providers=gnomad_v4_joint" in line
    ok = subprocess.run([sys.executable, "-m", "genolewm.prepare", "source=gnomad", "providers=gnomad_v4_joint",
                         f"input={releases_dir['joint']}", f"reference={releases_dir['reference'].path}",
                         f"hydra.run.dir={tmp_path / 'ok'}"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    report = json.loads((tmp_path / "ok" / "gnomad.prepared.report.json").read_text())
    assert report["dropped"]["ref_ambiguous"] >= 1 and report["filter"]["predicates"][1]["field"] == "AF_joint"
