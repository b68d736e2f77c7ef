import itertools

import pyarrow.parquet as pq
import pytest

from genolewm.config import make_builder
from genolewm.errors import ConfigError, InputError
from genolewm.runs import read_tuples
from genolewm.store import ParquetFormat, read_manifest, write_run


@pytest.mark.parametrize("error", [InputError("boom"), KeyboardInterrupt()])
def test_interrupted_build_leaves_nothing_that_looks_finished(compose_cfg, tmp_path, monkeypatch, error):
    import genolewm.builder

    builder, _ = make_builder(compose_cfg())
    calls = itertools.count()
    original = genolewm.builder.draw_windows

    def failing(*args):
        if next(calls) == 3:
            raise error
        return original(*args)

    monkeypatch.setattr(genolewm.builder, "draw_windows", failing)
    with pytest.raises(type(error)):
        write_run(builder, tmp_path, ParquetFormat(windows_per_shard=2), config_yaml="")
    assert [p.name for p in tmp_path.iterdir()] == [".genolewm.lock"]


def test_shards_hold_the_same_windows(compose_cfg, tmp_path):
    builder, _ = make_builder(compose_cfg(["mix=snv_only"]))
    plan_size = builder.windows.plan_size()
    manifest = write_run(builder, tmp_path, ParquetFormat(windows_per_shard=5, compression="snappy"),
                         config_yaml="x")
    windows = sorted((tmp_path / "windows").glob("part-*.parquet"))
    tuples = sorted((tmp_path / "tuples").glob("part-*.parquet"))
    assert manifest["shards"] == len(windows) == len(tuples) == -(-plan_size // 5)
    for k, (w, t) in enumerate(zip(windows, tuples)):
        indices = set(pq.read_table(w).column("window_index").to_pylist())
        assert indices == set(pq.read_table(t).column("window_index").to_pylist())
        assert all(5 * k <= i < 5 * (k + 1) for i in indices)
    assert len(list(read_tuples(tmp_path))) == manifest["tuples"]["total"]
    with pytest.raises(InputError, match="holds a finished run; choose a new hydra.run.dir, or pass overwrite=true"):
        write_run(builder, tmp_path, ParquetFormat(), config_yaml="x")


def test_reader_refuses_unfinished_runs(tmp_path):
    (tmp_path / "tuples").mkdir()
    with pytest.raises(InputError, match="no manifest.json"):
        read_manifest(tmp_path)


def test_output_settings_validate():
    with pytest.raises(ConfigError, match="output.compression='brotli2'"):
        ParquetFormat(compression="brotli2")
    with pytest.raises(ConfigError, match="output.windows_per_shard=0"):
        ParquetFormat(windows_per_shard=0)


def manifest_facts(manifest):
    return {k: v for k, v in manifest.items() if k not in ("elapsed_s", "tuples_per_s", "config_sha256", "provenance")}


@pytest.mark.parametrize("overrides", [["holdout=rfc", "mix=multi"], ["holdout=intervals", "split=val"],
                                       ["windows=corpus", "windows.stride_bp=1024"]])
def test_workers_build_the_same_files(compose_cfg, tmp_path, overrides):
    """Two worker processes and small shards: same bytes, same counts (VCF skips counted once across shards)."""
    import filecmp

    from genolewm.build import run

    runs = {}
    for name, extra in {"one": ["workers=1"], "two": ["workers=2"], "big": ["output.windows_per_shard=256"]}.items():
        shard = [] if name == "big" else ["output.windows_per_shard=3"]
        runs[name] = run(compose_cfg(overrides + extra + shard), str(tmp_path / name), progress=False)
    assert manifest_facts(runs["one"]) == manifest_facts(runs["two"])
    for table in ("windows", "tuples"):
        names = sorted(p.name for p in (tmp_path / "one" / table).iterdir())
        assert len(names) > 10
        match, mismatch, errors = filecmp.cmpfiles(tmp_path / "one" / table, tmp_path / "two" / table, names,
                                                   shallow=False)
        assert not mismatch and not errors
    big, small = manifest_facts(runs["big"]), manifest_facts(runs["one"])
    assert big["variants_skipped"] == small["variants_skipped"] and big["windows"] == small["windows"]
    assert list(read_tuples(tmp_path / "big")) == list(read_tuples(tmp_path / "two"))


def test_worker_error_reaches_the_build(compose_cfg, tmp_path):
    from test_cli import mismatching_gnomad

    from genolewm.build import run

    vcf, where = mismatching_gnomad(tmp_path)
    cfg = compose_cfg([f"paths.gnomad={vcf}", "providers.gnomad_common.ref_mismatch=error", "workers=2",
                       "output.windows_per_shard=2"])
    with pytest.raises(InputError, match=f"record {where}:"):
        run(cfg, str(tmp_path / "run"), progress=False)
    assert [p.name for p in (tmp_path / "run").iterdir()] == [".genolewm.lock"]
