"""Every run dir is a dataset card the common tools load: Hugging Face datasets, pandas, polars, duckdb."""

import pytest


@pytest.fixture(scope="module")
def card_run(tmp_path_factory):
    from conftest import composed

    from genolewm.build import run

    path = tmp_path_factory.mktemp("card")
    return path, run(composed(["holdout=chr8"]), str(path), progress=False)


def test_card_describes_the_run(card_run):
    path, manifest = card_run
    text = (path / "README.md").read_text()
    assert text.startswith("---\nconfigs:\n- config_name: tuples\n  data_files: \"tuples/*.parquet\"\n  default: true\n")
    assert f"| tuples | {manifest['tuples']['total']} |" in text and manifest["data_sha256"] in text
    assert "`af`, `clnsig`" in text


def test_the_readme_one_liners_load_it(card_run, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets
    import duckdb
    import pandas
    import polars

    path, manifest = card_run
    total, kept = manifest["tuples"]["total"], manifest["windows"]["kept"]
    tuples = datasets.load_dataset(str(path), "tuples", split="train", cache_dir=str(tmp_path / "hf"))
    windows = datasets.load_dataset(str(path), "windows", split="train", cache_dir=str(tmp_path / "hf"))
    assert tuples.num_rows == total and windows.num_rows == kept
    assert tuples[0]["edits"][0]["source"] == tuples[0]["requested_source"]
    assert len(pandas.read_parquet(path / "tuples")) == total
    assert polars.read_parquet(path / "tuples" / "*.parquet").height == total
    assert duckdb.sql(f"select count(*) from '{path}/tuples/*.parquet'").fetchall() == [(total,)]


def test_arrays_runs_say_how_to_read_them(compose_cfg, tmp_path):
    from genolewm.build import run

    run(compose_cfg(["output=arrays"]), str(tmp_path), progress=False)
    text = (tmp_path / "README.md").read_text()
    assert not text.startswith("---") and "genolewm.dataset.RunDataset" in text
