"""Integrity at the edges: each way a run dir could lie (a kill, a full disk, a second build, a stale index),
reproduced, with the behaviour that keeps it honest."""

import filecmp
import os
import shutil
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from genolewm.build import run
from genolewm.demo import DEMO_DIR
from genolewm.errors import InputError
from genolewm.providers import VariantProvider

from conftest import write_vcf


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "genolewm.build", *args], capture_output=True, text=True, cwd=cwd)


def same_files(a, b, tables=("windows", "tuples")):
    for table in tables:
        names = sorted(p.name for p in (a / table).iterdir())
        assert names == sorted(p.name for p in (b / table).iterdir())
        _, mismatch, errors = filecmp.cmpfiles(a / table, b / table, names, shallow=False)
        assert not mismatch and not errors, (table, mismatch, errors)


# 4. The saved config.yaml rebuilds the run byte for byte, through the command line.
@pytest.mark.slow
def test_config_yaml_rebuilds_the_run(tmp_path):
    first = cli("mix=realism", "holdout=rfc", "output.windows_per_shard=9", f"hydra.run.dir={tmp_path / 'a'}")
    assert first.returncode == 0, first.stderr
    again = cli("--config-path", str(tmp_path / "a"), "--config-name", "config", f"hydra.run.dir={tmp_path / 'b'}")
    assert again.returncode == 0, again.stderr
    same_files(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "a" / "config.yaml").read_bytes() == (tmp_path / "b" / "config.yaml").read_bytes()


# 6. Inputs that cannot serve are errors before any work, naming the file and the fix.
def test_header_only_vcf_is_refused(tmp_path):
    empty = write_vcf(tmp_path / "empty.vcf", {"chr1": 100}, [])
    with pytest.raises(InputError, match=r"empty.vcf.gz has no records"):
        VariantProvider(empty)


def test_index_of_another_file_is_refused(tmp_path):
    vcf = tmp_path / "gnomad.vcf.gz"
    shutil.copy(DEMO_DIR / "gnomad.vcf.gz", vcf)
    shutil.copy(DEMO_DIR / "clinvar.vcf.gz.tbi", str(vcf) + ".tbi")
    with pytest.raises(InputError, match=rf"the index {vcf}.tbi does not belong to {vcf} .*; run `tabix -f -p vcf {vcf}`"):
        VariantProvider(str(vcf))


def test_index_older_than_its_file_is_refused(tmp_path):
    vcf = write_vcf(tmp_path / "v.vcf", {"chr1": 100}, ["chr1\t5\t.\tA\tC\t.\tPASS\tAF=0.5"])
    stamp = os.path.getmtime(vcf)
    os.utime(vcf + ".tbi", (stamp - 60, stamp - 60))
    with pytest.raises(InputError, match=rf"the index {vcf}.tbi is older than {vcf}; run `tabix -f -p vcf {vcf}`"):
        VariantProvider(vcf)


def test_vcf_rewritten_after_indexing_names_the_file(compose_cfg, tmp_path):
    vcf = tmp_path / "gnomad.vcf.gz"
    shutil.copy(DEMO_DIR / "gnomad.vcf.gz", vcf)
    shutil.copy(DEMO_DIR / "gnomad.vcf.gz.tbi", str(vcf) + ".tbi")
    # Cut the file short but keep its first block, so the index still opens it.
    data = vcf.read_bytes()
    vcf.write_bytes(data[: len(data) // 2])
    os.utime(str(vcf) + ".tbi")
    with pytest.raises(InputError, match=rf"index {vcf}.tbi does not belong to {vcf} .*tabix -f -p vcf"):
        run(compose_cfg([f"paths.gnomad={vcf}"]), str(tmp_path / "run"), progress=False)
    assert not (tmp_path / "run" / "manifest.json").exists()


def test_a_source_that_serves_nothing_is_a_warning(compose_cfg, tmp_path):
    far = write_vcf(tmp_path / "far.vcf", {"chr1": 240_000}, ["chr1\t239990\t.\tA\tC\t.\tPASS\tAF=0.5"])
    manifest = run(compose_cfg([f"paths.gnomad={far}"]), str(tmp_path / "run"), progress=False)
    (warning,) = manifest["warnings"]
    assert warning.startswith(f"providers.gnomad_common served no edit in {manifest['windows']['kept']} windows")
    assert far in warning
    from genolewm.build import summary

    assert "  warning   providers.gnomad_common served no edit" in summary(str(tmp_path / "run"), manifest)


# 1 and 2. One build per run dir, decided before anything is written; default dirs never collide.
def tree_digest(path):
    import hashlib

    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_second_build_into_a_finished_run_changes_nothing(tmp_path):
    run_dir = tmp_path / "run"
    assert cli("holdout=chr8", f"hydra.run.dir={run_dir}").returncode == 0
    before = tree_digest(run_dir)
    again = cli("seed=1", f"hydra.run.dir={run_dir}")
    assert again.returncode == 2 and again.stderr.strip().splitlines() == [
        f"genolewm.build: error: {run_dir} holds a finished run; choose a new hydra.run.dir, or pass overwrite=true "
        "to replace it when the new build completes"]
    assert tree_digest(run_dir) == before  # .hydra/ included
    replaced = cli("seed=1", "holdout=chr8", "overwrite=true", f"hydra.run.dir={run_dir}")
    assert replaced.returncode == 0, replaced.stderr
    import json

    assert json.loads((run_dir / "manifest.json").read_text())["seed"] == 1 and not (run_dir / ".replaced").exists()
    from genolewm.audit import audit_run

    audit_run(run_dir)


@pytest.mark.slow
def test_multirun_into_an_existing_sweep_changes_nothing(tmp_path):
    sweep = tmp_path / "sweep"
    assert cli("-m", "seed=0,1", f"hydra.sweep.dir={sweep}").returncode == 0
    before = tree_digest(sweep)
    again = cli("-m", "seed=2,3", f"hydra.sweep.dir={sweep}")
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1
    assert "holds a sweep already" in again.stderr and tree_digest(sweep) == before


def test_a_dir_being_built_is_refused(compose_cfg, tmp_path):
    from genolewm.store.lock import RunDirLock

    other = subprocess.Popen([sys.executable, "-c", "import sys, time; from genolewm.store.lock import RunDirLock; "
                              f"RunDirLock({str(tmp_path)!r}); print('locked', flush=True); time.sleep(30)"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "locked"
        with pytest.raises(InputError, match=rf"another build \(process {other.pid}\) is writing this run dir"):
            run(compose_cfg(), str(tmp_path), progress=False)
        assert sorted(p.name for p in tmp_path.iterdir()) == [".genolewm.lock"]
    finally:
        other.kill()
        other.wait()
    RunDirLock(tmp_path).release()  # a killed holder leaves no lock behind


def test_default_run_dirs_differ_within_a_second(compose_cfg):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from genolewm.config import CONFIG_PATH

    dirs = set()
    for _ in range(2):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
            cfg = compose(config_name="build", return_hydra_config=True)
        dirs.add(cfg.hydra.run.dir)
    GlobalHydra.instance().clear()
    assert len(dirs) == 2


# 3. Workers live and die with their build.
def big_genome(tmp_path):
    import random

    from conftest import write_fasta

    rng = random.Random(5)
    return write_fasta(tmp_path / "big.fa", {"chr1": "".join(rng.choices("ACGT", k=3_000_000))})


def children(pid):
    out = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        out |= {int(c) for c in open(f"/proc/{pid}/task/{task}/children").read().split()}
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(2, 130), (15, 143), (9, -9)])
def test_workers_die_with_the_build(tmp_path, signum, code):
    import time

    fasta = big_genome(tmp_path)
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "genolewm.build", "experiment=corpus_pretrain", "windows=reference",
         f"paths.reference={fasta}", "windows.window_bp=2048", "windows.stride_bp=256", "windows.margin_bp=0",
         "workers=2", "output.windows_per_shard=64", f"hydra.run.dir={run_dir}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while len(children(proc.pid)) < 3 and time.time() < deadline:  # two workers and the queue manager
        time.sleep(0.05)
    workers = children(proc.pid)
    assert len(workers) >= 3 and (run_dir / ".partial").is_dir()
    time.sleep(0.5)
    os.kill(proc.pid, signum)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == code
    time.sleep(2)
    assert not [pid for pid in workers if alive(pid)]
    if signum != 9:
        name = {2: "SIGINT", 15: "SIGTERM"}[signum]
        assert stderr.strip().splitlines()[-1] == f"genolewm.build: interrupted by {name}; nothing was published"
        assert "Traceback" not in stderr
        assert not (run_dir / ".partial").exists() and not (run_dir / "manifest.json").exists()
    rerun = cli("experiment=corpus_pretrain", "windows=reference", f"paths.reference={fasta}",
                "windows.window_bp=4096", "windows.stride_bp=4096", f"hydra.run.dir={run_dir}")
    assert rerun.returncode == 0, rerun.stderr


# 5. Data identity: what changes a tuple, and nothing that does not.
def test_data_identity_ignores_workers_shards_and_paths(compose_cfg, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("ref.fa", "ref.fa.fai", "gnomad.vcf.gz", "gnomad.vcf.gz.tbi", "clinvar.vcf.gz", "clinvar.vcf.gz.tbi"):
        shutil.copy2(DEMO_DIR / name, copy / name)
    a = run(compose_cfg(["holdout=chr8"]), str(tmp_path / "a"), progress=False)
    b = run(compose_cfg(["holdout=chr8", "workers=2", "shard.count=2", "shard.index=1", "output.windows_per_shard=5",
                         f"paths.reference={copy / 'ref.fa'}", f"paths.gnomad={copy / 'gnomad.vcf.gz'}",
                         f"paths.clinvar={copy / 'clinvar.vcf.gz'}"]), str(tmp_path / "b"), progress=False)
    assert a["data_sha256"] == b["data_sha256"]
    c = run(compose_cfg(["holdout=chr8", "edge_margin=65"]), str(tmp_path / "c"), progress=False)
    assert c["data_sha256"] != a["data_sha256"]


# 9. Silent no-ops and type slips.
def test_record_ids_naming_no_record_are_an_error(compose_cfg, tmp_path):
    from genolewm.errors import ConfigError

    with pytest.raises(ConfigError, match=r"holdout.record_ids: rec_17 is no record of the windows' input \(carbon_000"):
        run(compose_cfg(["windows=corpus", "holdout.record_ids=[rec_17]"]), str(tmp_path / "r"), progress=False)
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
@pytest.mark.parametrize("override, key", [
    ("windows.window_bp=1000.5", "windows.window_bp"), ("windows.stride_bp=100.5", "windows.stride_bp"),
    ("workers=abc", "workers"), ("workers=1.5", "workers"), ("edge_margin=abc", "edge_margin"),
    ("providers.gnomad_common.min_af=abc", "providers.gnomad_common.min_af"),
    ("holdout.record_ids=[rec_17]", "holdout.record_ids"),
])
def test_type_slips_are_one_line(tmp_path, override, key):
    out = cli(override, f"hydra.run.dir={tmp_path / 'r'}")
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1 and key in lines[0] and "Traceback" not in out.stderr
    assert not (tmp_path / "r" / "manifest.json").exists()


# 8. Write failures: one line naming the path, nothing left behind, and a rerun builds into the dir.
def enospc(path):
    import errno

    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


@pytest.mark.parametrize("where", ["shard", "manifest"])
def test_full_disk_leaves_a_dir_a_rerun_can_build_into(compose_cfg, tmp_path, monkeypatch, where):
    import genolewm.store.staging
    from genolewm.store.parquet import ParquetFormat

    run_dir = tmp_path / "run"
    if where == "shard":
        original = ParquetFormat.write_shard

        def full(self, directory, index, windows, tuples):
            if index == 1:
                raise enospc(directory / "tuples" / "part-00001.parquet")
            return original(self, directory, index, windows, tuples)

        monkeypatch.setattr(ParquetFormat, "write_shard", full)
    else:
        original = genolewm.store.staging.json.dumps

        def full(value, **kwargs):
            if "data_sha256" in value:
                raise enospc(run_dir / ".partial" / "manifest.json")
            return original(value, **kwargs)

        monkeypatch.setattr(genolewm.store.staging.json, "dumps", full)
    with pytest.raises(InputError, match=r"run/\.partial/.*: No space left on device; nothing was published"):
        run(compose_cfg(["output.windows_per_shard=20"]), str(run_dir), progress=False)
    assert sorted(p.name for p in run_dir.iterdir()) == [".genolewm.lock"]
    monkeypatch.undo()
    assert run(compose_cfg(), str(run_dir), progress=False)["tuples"]["total"] > 0


def test_read_only_run_dir_is_one_line(compose_cfg, tmp_path):
    if os.geteuid() == 0:
        # root writes anywhere: make the dir's parent a file instead, which no one can write under.
        (tmp_path / "file").write_text("x")
        run_dir = tmp_path / "file" / "run"
    else:
        (tmp_path / "ro").mkdir(mode=0o500)
        run_dir = tmp_path / "ro" / "run"
    with pytest.raises(InputError, match=rf"{run_dir}: cannot create the run dir's lock"):
        run(compose_cfg(), str(run_dir), progress=False)


def test_files_that_are_not_a_run_are_left_alone(compose_cfg, tmp_path):
    (tmp_path / "config.yaml").write_text("mine: true\n")
    with pytest.raises(InputError, match=rf"{tmp_path} holds config.yaml but no genolewm run; choose a new"):
        run(compose_cfg(), str(tmp_path), progress=False)
    assert (tmp_path / "config.yaml").read_text() == "mine: true\n"


def test_leftovers_of_a_killed_build_are_removed_by_the_next(compose_cfg, tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / ".partial" / "tuples").mkdir(parents=True)
    (run_dir / "windows").mkdir()
    (run_dir / "windows" / "part-00000.parquet").write_text("half")
    (run_dir / "manifest.json.tmp").write_text("")
    manifest = run(compose_cfg(["output.windows_per_shard=1000"]), str(run_dir), progress=False)
    assert sorted(p.name for p in (run_dir / "windows").iterdir()) == ["part-00000.parquet"]
    assert manifest["shards"] == 1 and not (run_dir / "manifest.json.tmp").exists()


# 7. The audit accounts for everything.
@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    from conftest import composed

    path = tmp_path_factory.mktemp("audited")
    run(composed(["holdout=rfc", "output.windows_per_shard=1000"]), str(path), progress=False)
    return path


def tamper_manifest(run_dir, change):
    import json

    manifest = json.loads((run_dir / "manifest.json").read_text())
    change(manifest)
    (run_dir / "manifest.json").write_text(json.dumps(manifest))


def rewrite_rows(run_dir, table, change):
    import pyarrow as pa
    import pyarrow.parquet as pq

    part = run_dir / table / "part-00000.parquet"
    data = pq.read_table(part)
    pq.write_table(pa.Table.from_pylist(change(data.to_pylist()), schema=data.schema), part)


def test_removing_a_window_and_its_tuples_fails(audited, tmp_path):
    from genolewm.audit import AuditError, audit_run

    run_dir = shutil.copytree(audited, tmp_path / "r")
    gone = 3
    index = [None]

    def drop_window(rows):
        index[0] = rows[gone]["window_index"]
        return rows[:gone] + rows[gone + 1:]

    rewrite_rows(run_dir, "windows", drop_window)
    rewrite_rows(run_dir, "tuples", lambda rows: [r for r in rows if r["window_index"] != index[0]])

    def adjust(m):
        m["windows"]["kept"] -= 1
        m["windows"]["excluded_by_holdout"] += 1
        m["tuples"]["total"] -= 8
        for key in ("by_edit_source", "by_requested_source"):
            m["tuples"][key] = {}

    tamper_manifest(run_dir, adjust)
    with pytest.raises(AuditError):
        audit_run(run_dir)
    # With the counts made consistent, the plan still accounts for the window.
    from genolewm.audit.run import _Audit

    left = sorted(pq.read_table(run_dir / "windows").column("window_index").to_pylist())
    with pytest.raises(AuditError, match=rf"windows: planned windows \[{index[0]}\] are missing from the files"):
        _Audit(str(run_dir)).check_plan([{"window_index": i} for i in left])


def test_duplicated_tuple_fails(audited, tmp_path):
    from genolewm.audit import AuditError, audit_run

    run_dir = shutil.copytree(audited, tmp_path / "d")
    rewrite_rows(run_dir, "tuples", lambda rows: rows[:4] + [{**rows[3], "tuple_index": 4}] + rows[5:])
    with pytest.raises(AuditError, match=r"tuples/part-00000.parquet row 4: edit .* repeats an edit of another"):
        audit_run(run_dir)


@pytest.mark.parametrize("change, message", [
    (lambda m: m.update(seed=5), "seed 5 / split train differ from config.yaml's 0 / train"),
    (lambda m: m["windows"].update(seen=m["windows"]["seen"] + 1, skipped_n=m["windows"]["skipped_n"] + 1),
     "windows.seen is .*, the plan gives"),
    (lambda m: m["variants_skipped"].update({"gnomad_common:symbolic": 1}), "variants_skipped of gnomad_common is"),
    (lambda m: m["data_identity"].update(edge_margin=65), "data_identity.edge_margin is not what config.yaml"),
    (lambda m: m["mix"].update(counts=[["clinvar", 1], ["gnomad_common", 3], ["synthetic_snv", 3],
                                       ["synthetic_indel", 1]]), "mix .* differs from config.yaml"),
])
def test_manifest_edits_fail(audited, tmp_path, change, message):
    from genolewm.audit import AuditError, audit_run

    run_dir = shutil.copytree(audited, tmp_path / "m")
    tamper_manifest(run_dir, change)
    with pytest.raises(AuditError, match=message):
        audit_run(run_dir)


def test_masked_reference_passes_the_audit(compose_cfg, tmp_path):
    import random

    from conftest import write_fasta

    rng = random.Random(3)
    seq = "".join(rng.choices("ACGT", k=60_000))
    seq = seq[:20_000] + "RYKM" + seq[20_004:40_000] + "n" * 30 + seq[40_030:]
    fasta = write_fasta(tmp_path / "iupac.fa", {"chr1": seq})
    manifest = run(compose_cfg(["experiment=corpus_pretrain", "windows=reference", f"paths.reference={fasta}",
                                "windows.non_acgtn=mask", "audit=true"]), str(tmp_path / "r"), progress=False)
    assert manifest["audit"]["tuples"] == manifest["tuples"]["total"] > 0


@pytest.mark.slow
def test_unreadable_runs_are_one_line_fails(audited, tmp_path):
    bad = shutil.copytree(audited, tmp_path / "p")
    part = bad / "tuples" / "part-00000.parquet"
    part.write_bytes(part.read_bytes()[:1000])
    corrupt = shutil.copytree(audited, tmp_path / "j")
    (corrupt / "manifest.json").write_text("{not json")
    for run_dir, where in ((bad, "part-00000.parquet"), (corrupt, "manifest.json")):
        out = subprocess.run([sys.executable, "-m", "genolewm.audit", str(run_dir)], capture_output=True, text=True)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 1 and len(lines) == 1 and lines[0].startswith("genolewm.audit: FAIL: "), out.stderr
        assert where in lines[0]


def test_key_file_with_an_indented_comment(compose_cfg, tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text("   # held out for the benchmark\n" + (DEMO_DIR / "holdout_keys.txt").read_text())
    manifest = run(compose_cfg(["holdout=keys", f"paths.holdout_keys={keys}", "audit=true"]), str(tmp_path / "r"),
                   progress=False)
    assert manifest["audit"]["windows"] == manifest["windows"]["kept"]


@pytest.mark.slow
def test_two_builds_into_one_dir_publish_one_run(tmp_path):
    import json
    import time

    fasta = big_genome(tmp_path)
    run_dir = tmp_path / "run"
    args = ["experiment=corpus_pretrain", "windows=reference", f"paths.reference={fasta}", "windows.window_bp=2048",
            "windows.margin_bp=0", f"hydra.run.dir={run_dir}"]
    # The first build must still be writing when the second process has started (about a second): a dense
    # tiling gives it ~90k tuples, several seconds of work.
    first = subprocess.Popen([sys.executable, "-m", "genolewm.build", *args, "windows.stride_bp=256", "seed=0"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (run_dir / ".partial").is_dir() and time.time() < deadline:
        time.sleep(0.05)
    second = cli(*args, "windows.stride_bp=1024", "seed=1")
    assert second.returncode == 2 and len(second.stderr.strip().splitlines()) == 1
    assert f"another build (process {first.pid}) is writing this run dir" in second.stderr
    assert first.wait(timeout=120) == 0
    assert json.loads((run_dir / "manifest.json").read_text())["seed"] == 0
    from genolewm.audit import audit_run

    audit_run(run_dir)

