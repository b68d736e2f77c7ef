"""Tensors from the live stream and from a finished build are the same, however the work is split."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from genolewm import GenoLeWMDataset
from genolewm.build import run
from genolewm.config import make_builder
from genolewm.dataset import RunDataset
from genolewm.tensors import collate, encode

SHARD = 4


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from genolewm.config import CONFIG_PATH

    out = {}
    for name, extra in {"targets": [], "lean": ["output.store_targets=false"]}.items():
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
            cfg = compose(config_name="build", overrides=["holdout=chr8", "mix=multi",
                                                         f"output.windows_per_shard={SHARD}"] + extra)
        path = tmp_path_factory.mktemp(name)
        run(cfg, str(path), progress=False)
        out[name] = path
    GlobalHydra.instance().clear()
    return out, make_builder(cfg)[0]


def live_batches(builder, batch, **split):
    dataset = GenoLeWMDataset.from_builder(builder, windows_per_block=SHARD, with_windows=True, **split)
    return list(DataLoader(dataset, batch_size=batch, collate_fn=collate))


def assert_same(a, b):
    assert len(a) == len(b) and len(a) > 0
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            assert x[k].dtype == y[k].dtype and torch.equal(x[k], y[k]), k


@pytest.mark.parametrize("run_name", ["targets", "lean"])
@pytest.mark.parametrize("split", [{}, {"rank": 1, "world_size": 2}])
def test_finished_build_gives_live_tensors(built, run_name, split):
    runs, builder = built
    finished = list(DataLoader(RunDataset(runs[run_name], batch_size=64, **split), batch_size=None))
    assert_same(finished, live_batches(builder, 64, **split))


def test_shapes_and_codes(built):
    runs, builder = built
    batch = next(iter(RunDataset(runs["targets"], batch_size=32)))
    b, length = batch["window"].shape
    e = batch["edit_pos"].shape[1]
    assert (b, length) == (32, 12_288) and batch["target"].shape == (32, length)
    assert batch["window"].dtype == torch.uint8 and int(batch["window"].max()) <= 4
    assert batch["ref"].shape == batch["alt"].shape == batch["ref_mask"].shape == (32, e, 16)
    assert batch["edit_mask"].sum(1).min() >= 1
    item = next(iter(GenoLeWMDataset.from_builder(builder, windows_per_block=SHARD, with_windows=True)))
    t = item.training_tuple
    assert torch.equal(batch["window"][0], torch.from_numpy(encode([item.source_window.sequence])[0]))
    first = t.rel_edits[0]
    assert int(batch["edit_pos"][0, 0]) == first.rel_pos
    assert int(batch["ref_mask"][0, 0].sum()) == len(first.ref)
    assert "".join("ACGTN"[i] for i in batch["alt"][0, 0][: len(first.alt)].tolist()) == first.alt
    assert not batch["ref"][~batch["ref_mask"]].any()
    assert np.array_equal(encode(["ACGTN"]), [[0, 1, 2, 3, 4]])


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
def test_workers_cover_the_build(built):
    runs, _ = built
    whole = torch.cat([b["tuple_index"] * 1_000_000 + b["window_index"]
                       for b in RunDataset(runs["targets"], batch_size=50)])
    parts = torch.cat([b["tuple_index"] * 1_000_000 + b["window_index"]
                       for b in DataLoader(RunDataset(runs["targets"], batch_size=50), batch_size=None, num_workers=2)])
    assert sorted(whole.tolist()) == sorted(parts.tolist())


@pytest.mark.parametrize("split", [{}, {"rank": 0, "world_size": 3}])
def test_finished_build_gives_live_items(built, split):
    runs, builder = built
    finished = list(RunDataset(runs["lean"], tensors=False, **split))
    live = list(GenoLeWMDataset.from_builder(builder, windows_per_block=SHARD, with_windows=True, **split))
    assert finished == live and finished
