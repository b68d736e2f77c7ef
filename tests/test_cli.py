"""The command line as users run it: subprocesses, multirun sweeps, an installed wheel, bad input."""

import csv
import json
import os
import site
import subprocess
import sys
from pathlib import Path

import pysam
import pytest

from genolewm.demo import DEMO_DIR
from genolewm.runs import RunSet

from conftest import write_vcf

pytestmark = pytest.mark.slow


def build(*args, cwd=None, python=sys.executable):
    return subprocess.run(
        [python, "-m", "genolewm.build", *args], capture_output=True, text=True, cwd=cwd,
        env={**os.environ, "HYDRA_FULL_ERROR": "0"},
    )


def test_demo_build_cli(tmp_path):
    out = build("mix=default", "holdout=chr8", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    assert "genolewm build ->" in out.stdout and "tuples" in out.stdout
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["tuples"]["total"] == 8 * manifest["windows"]["kept"]
    assert (tmp_path / ".hydra" / "config.yaml").is_file()


def test_haplotype_tuples_are_a_sweep_axis(tmp_path):
    out = build("-m", "providers=with_haplotypes", "mix.counts.haplotypes=0,2", "mix=haplotypes",
                f"hydra.sweep.dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    by_job = {job: json.loads((tmp_path / job / "manifest.json").read_text()) for job in ("0", "1")}
    assert "haplotypes" not in by_job["0"]["tuples"]["by_requested_source"]
    assert by_job["1"]["tuples"]["by_requested_source"]["haplotypes"] == 2 * by_job["1"]["windows"]["kept"]
    assert by_job["0"]["data_sha256"] != by_job["1"]["data_sha256"]


def test_multirun_writes_one_run_dir_per_job(tmp_path):
    out = build("-m", "mix=default,snv_only", "seed=0,1", f"hydra.sweep.dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    jobs = sorted(p for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [p.name for p in jobs] == ["0", "1", "2", "3"]
    seen = set()
    for job in jobs:
        manifest = json.loads((job / "manifest.json").read_text())
        overrides = (job / ".hydra" / "overrides.yaml").read_text()
        mix = "snv_only" if "mix=snv_only" in overrides else "default"
        seen.add((mix, manifest["seed"]))
        if mix == "snv_only":
            assert set(manifest["tuples"]["by_edit_source"]) == {"synthetic_snv"}
    assert seen == {("default", 0), ("default", 1), ("snv_only", 0), ("snv_only", 1)}
    with open(tmp_path / "sweep_summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["job"] for r in rows] == ["0", "1", "2", "3"] and {r["status"] for r in rows} == {"ok"}
    assert {(r["override.mix"], r["override.seed"]) for r in rows} == {
        ("default", "0"), ("default", "1"), ("snv_only", "0"), ("snv_only", "1")}
    for r in rows:
        manifest = json.loads((tmp_path / r["job"] / "manifest.json").read_text())
        assert int(r["tuples.total"]) == manifest["tuples"]["total"]
        assert int(r["windows.kept"]) == manifest["windows"]["kept"]


@pytest.mark.parametrize("launcher", [
    ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", "hydra.launcher.cpus_per_task=1"],
])
def test_sharded_sweep_on_a_launcher(tmp_path, launcher):
    """Shards built as jobs of a joblib or submitit sweep add up to the unsharded build."""
    common = ["holdout=rfc", "mix=multi", "output.windows_per_shard=8"]
    out = build("-m", *launcher, *common, "shard.count=3", "shard.index=0,1,2", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert out.returncode == 0, out.stderr
    whole = build(*common, f"hydra.run.dir={tmp_path / 'whole'}")
    assert whole.returncode == 0, whole.stderr
    jobs = [tmp_path / "sweep" / str(i) for i in range(3)]
    assert list(RunSet(jobs).tuples()) == list(RunSet(tmp_path / "whole").tuples())
    with open(tmp_path / "sweep" / "sweep_summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["shard"] for r in rows) == ["0/3", "1/3", "2/3"]


def mismatching_gnomad(tmp_path):
    """The demo gnomAD VCF with one common PASS SNV given a REF the reference does not have."""
    lines, changed = [], None
    with pysam.VariantFile(str(DEMO_DIR / "gnomad.vcf.gz")) as vf:
        header = str(vf.header).rstrip("\n").split("\n")
        for rec in vf:
            line = str(rec).rstrip("\n")
            if changed is None and rec.chrom == "chr1" and rec.pos > 2_000 and len(rec.ref) == 1 \
                    and list(rec.filter) == ["PASS"] and len(rec.alts) == 1 and (rec.info["AF"][0] or 0) >= 0.01:
                wrong = next(b for b in "ACGT" if b not in (rec.ref, rec.alts[0]))
                cols = line.split("\t")
                cols[3] = wrong
                line, changed = "\t".join(cols), f"chr1:{rec.pos}"
            lines.append(line)
    path = tmp_path / "mismatch.vcf"
    path.write_text("\n".join(header + lines) + "\n")
    pysam.tabix_index(str(path), preset="vcf", force=True)
    return str(path) + ".gz", changed


def bad_inputs(tmp_path):
    plain = write_vcf(tmp_path / "plain.vcf", {"chr1": 1000}, [], index=False)
    unindexed = tmp_path / "unindexed.vcf.gz"
    unindexed.write_bytes(Path(write_vcf(tmp_path / "u.vcf", {"chr1": 1000}, [])).read_bytes())
    renamed = write_vcf(tmp_path / "genbank.vcf", {"CM000663.2": 240_000},
                        ["CM000663.2\t5000\t.\tA\tC\t.\tPASS\tAF=0.5"])
    mismatch, where = mismatching_gnomad(tmp_path)
    return {
        "missing_fasta": ([f"paths.reference={tmp_path}/none.fa"], "paths.reference: file not found"),
        "plain_vcf": ([f"paths.gnomad={plain}"], "is not bgzip-compressed"),
        "unindexed_vcf": ([f"paths.clinvar={unindexed}"], "has no .tbi or .csi index"),
        "contigs_match_nothing": ([f"paths.gnomad={renamed}"], "providers.gnomad_common: no contig of"),
        "ref_mismatch_error": ([f"paths.gnomad={mismatch}", "providers.gnomad_common.ref_mismatch=error"],
                               f"record {where}:"),
        "unknown_chromosome": (["windows.contigs=[chr8,chr99]"], "windows.contigs: chr99 not in"),
        "unknown_holdout_contig": (["holdout.chroms=[chr99]"], "holdout.chroms: contig 'chr99' is in none"),
        "bad_mix": (["mix.counts.synthetic_snv=-2"], "mix.counts.synthetic_snv=-2"),
        "no_window_fits": (["windows.contigs=[chrUn_KI270742v1]"], "windows: no sequence is long enough"),
    }


@pytest.mark.parametrize("launcher", [
    [],
    ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", "hydra.launcher.cpus_per_task=1"],
], ids=["basic", "joblib", "submitit_local"])
def test_a_failing_job_does_not_stop_the_sweep(tmp_path, launcher):
    sweep = tmp_path / "sweep"
    out = build("-m", *launcher, "fallback=strict,default", "seed=0,1", f"hydra.sweep.dir={sweep}")
    assert out.returncode == 2 and out.stderr.strip().splitlines()[-1].startswith("genolewm.build: error: window")
    assert "Traceback" not in out.stderr and "leaked semaphore" not in out.stderr
    with open(sweep / "sweep_summary.csv") as handle:
        rows = {row["job"]: row for row in csv.DictReader(handle)}
    assert {j: (r["override.fallback"], r["status"]) for j, r in rows.items()} == {
        "0": ("strict", "failed"), "1": ("strict", "failed"), "2": ("default", "ok"), "3": ("default", "ok")}
    assert "has no fallback" in rows["0"]["error"] and rows["2"]["error"] == ""
    assert (sweep / "2" / "manifest.json").is_file() and (sweep / "3" / "manifest.json").is_file()


def test_bad_input_one_line_error_no_output(tmp_path):
    for name, (overrides, message) in bad_inputs(tmp_path).items():
        run_dir = tmp_path / f"run_{name}"
        out = build(*overrides, f"hydra.run.dir={run_dir}")
        assert out.returncode == 2, (name, out.stdout, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("genolewm.build: error: "), (name, out.stderr)
        assert message in lines[0], (name, lines[0])
        assert not list(run_dir.rglob("*.parquet")) and not (run_dir / "manifest.json").exists(), name
        assert not (run_dir / ".partial").exists(), name


@pytest.mark.parametrize("override, key", [
    ("windows.window_size=100", "windows.window_size"), ("workers=1.5", "workers"),
    ("windows.window_bp=abc", "windows.window_bp"), ("edge_margin=abc", "edge_margin"),
    ("providers.gnomad_common.min_af=abc", "providers.gnomad_common.min_af"), ("output=feather", "output"),
])
def test_bad_overrides_are_one_line(tmp_path, override, key):
    out = build(override, f"hydra.run.dir={tmp_path}")
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1 and lines[0].startswith("genolewm.build: error: "), out.stderr
    assert key in lines[0] and "Traceback" not in out.stderr
    assert not (tmp_path / "manifest.json").exists()


def test_installed_wheel_runs_outside_checkout(tmp_path):
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(root),
                    "-w", str(tmp_path / "dist")], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("genolewm-*.whl")
    # A fresh venv that sees this environment's packages (whatever venv the tests run in), not its genolewm.
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    venv_site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip()
    Path(venv_site, "outer.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, capture_output=True)
    where = subprocess.run([python, "-c", "import genolewm.build as b; print(b.__file__); print(b.CONFIG_PATH)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True).stdout.split()
    assert where[0].startswith(str(tmp_path / "venv")) and where[1] == "pkg://genolewm.conf"
    out = build("holdout=rfc", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path, python=python)
    assert out.returncode == 0, out.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["tuples"]["total"] > 0
    assert all(i["path"].startswith(str(tmp_path / "venv")) for i in manifest["inputs"])
    for script in ("genolewm-build", "genolewm-prepare", "genolewm-audit"):
        assert (tmp_path / "venv" / "bin" / script).is_file()
    audited = subprocess.run([str(tmp_path / "venv" / "bin" / "genolewm-audit"), str(tmp_path / "run")],
                             capture_output=True, text=True)
    assert audited.returncode == 0, audited.stderr
    prepared = subprocess.run([str(tmp_path / "venv" / "bin" / "genolewm-prepare"), "source=clinvar",
                               f"input={DEMO_DIR / 'clinvar.vcf.gz'}", f"output={tmp_path / 'c.vcf.gz'}",
                               f"hydra.run.dir={tmp_path / 'prep'}"], capture_output=True, text=True, cwd=tmp_path)
    assert prepared.returncode == 0 and (tmp_path / "c.vcf.gz.tbi").is_file(), prepared.stderr


def test_build_log_and_provenance(tmp_path):
    ok = build("holdout=chr8", f"hydra.run.dir={tmp_path / 'ok'}")
    assert ok.returncode == 0 and ok.stdout.startswith("genolewm build -> ")
    log = (tmp_path / "ok" / "build.log").read_text()
    assert "[INFO][genolewm.build] genolewm build -> " in log and "  tuples    " in log
    provenance = json.loads((tmp_path / "ok" / "manifest.json").read_text())["provenance"]
    assert provenance["command"] == ["build.py", "holdout=chr8", f"hydra.run.dir={tmp_path / 'ok'}"]
    assert provenance["overrides"] == ["holdout=chr8"]
    assert provenance["genolewm"] and provenance["host"] and provenance["started_utc"] <= provenance["finished_utc"]
    assert set(provenance["versions"]) == {"python", "htslib", "pysam", "pyarrow", "hydra-core", "omegaconf", "numpy"}
    assert provenance["git"] is None or len(provenance["git"]["commit"]) == 40
    bad = build("fallback=strict", f"hydra.run.dir={tmp_path / 'bad'}")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "[ERROR][genolewm.build] window 22" in (tmp_path / "bad" / "build.log").read_text()
    assert "has no fallback" not in bad.stdout


def test_console_script_help_and_shell_completion(tmp_path):
    script = str(Path(sys.executable).parent / "genolewm-build")
    helped = subprocess.run([script, "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "genolewm-build mix=default holdout=chr8" in helped.stdout
    for group in ("windows: corpus, reference, regions", "mix: default, haplotypes, multi", "output: arrays, parquet"):
        assert group in helped.stdout
    install = subprocess.run([script, "-sc", "install=bash"], capture_output=True, text=True)
    assert install.returncode == 0 and "-F hydra_bash_completion genolewm-build" in install.stdout
    line = "genolewm-build mix="
    query = subprocess.run([script, "-sc", "query=bash"], capture_output=True, text=True,
                           env={**os.environ, "COMP_LINE": line, "COMP_POINT": str(len(line))})
    assert query.returncode == 0 and "mix=default" in query.stdout.split() and "mix=multi" in query.stdout.split()
