import itertools

import pyarrow.parquet as pq
import pytest

from genolewm.build import make_builder
from genolewm.errors import ConfigError, InputError
from genolewm.store import OutputSettings, read_manifest, read_tuples, write_run


@pytest.mark.parametrize("error", [InputError("boom"), KeyboardInterrupt()])
def test_interrupted_build_leaves_nothing_that_looks_finished(compose_cfg, tmp_path, error):
    builder, _, _ = make_builder(compose_cfg())
    calls = itertools.count()
    original = builder.tuples_for

    def failing(window):
        if next(calls) == 20:
            raise error
        return original(window)

    builder.tuples_for = failing
    with pytest.raises(type(error)):
        write_run(builder, tmp_path, OutputSettings(rows_per_shard=8), config_yaml="", input_paths=[])
    assert list(tmp_path.iterdir()) == []


def test_shards_and_row_groups(compose_cfg, tmp_path):
    builder, _, _ = make_builder(compose_cfg(["mix=snv_only"]))
    manifest = write_run(builder, tmp_path, OutputSettings(rows_per_shard=100, compression="snappy"),
                         config_yaml="x", input_paths=[])
    parts = sorted((tmp_path / "tuples").glob("part-*.parquet"))
    assert manifest["shards"]["tuples"] == len(parts) == -(-manifest["tuples"]["total"] // 100)
    assert [pq.ParquetFile(p).metadata.num_rows for p in parts[:-1]] == [100] * (len(parts) - 1)
    assert len(list(read_tuples(tmp_path))) == manifest["tuples"]["total"]
    with pytest.raises(InputError, match="already holds a build"):
        write_run(builder, tmp_path, OutputSettings(), config_yaml="x", input_paths=[])


def test_reader_refuses_unfinished_runs(tmp_path):
    (tmp_path / "tuples").mkdir()
    with pytest.raises(InputError, match="no manifest.json"):
        read_manifest(tmp_path)


def test_output_settings_validate():
    with pytest.raises(ConfigError, match="output.compression='brotli2'"):
        OutputSettings(compression="brotli2")
    with pytest.raises(ConfigError, match="output.rows_per_shard=0"):
        OutputSettings(rows_per_shard=0)
