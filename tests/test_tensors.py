"""Tensors from the live stream and from a finished build are the same, however the work is split."""

import itertools
from functools import partial

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from torch.utils.data import DataLoader

from genolewm import GenoLeWMDataset
from genolewm.build import run
from genolewm.config import make_builder
from genolewm.dataset import RunDataset
from genolewm.partition import Consumer
from genolewm.tensors import collate, encode
from genolewm.types import EditType

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
    return list(DataLoader(dataset, batch_size=batch, collate_fn=partial(collate, vocabulary=dataset.vocabulary)))


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


def seed_trainer_action(edit) -> tuple[int, int, str, str]:
    """How the seed's trainer encodes an action, by the seed's names only."""
    return edit.rel_pos, int(edit.edit_type), edit.ref_bases, edit.alt_bases


def test_seed_trainer_reads_the_stream_and_batches_share_its_codes(built):
    runs, builder = built
    assert [(k.name, int(k)) for k in EditType] == [("SNV", 0), ("INS", 1), ("DEL", 2), ("MNV", 3), ("INDEL", 4),
                                                    ("SV", 5)]
    items = list(itertools.islice(GenoLeWMDataset.from_builder(builder, windows_per_block=SHARD,
                                                               with_windows=True), 64))
    batch = collate(items)
    kinds = set()
    for i, item in enumerate(items):
        for k, edit in enumerate(item.training_tuple.rel_edits):
            pos, code, ref, alt = seed_trainer_action(edit)
            assert (pos, ref, alt) == (edit.rel_pos, edit.ref, edit.alt)
            assert int(batch["edit_type"][i, k]) == code and int(batch["edit_pos"][i, k]) == pos
            kinds.add(edit.edit_type)
    assert {EditType.SNV, EditType.INS, EditType.DEL} <= kinds
    table = pq.read_table(sorted((runs["targets"] / "tuples").glob("*.parquet"))[0], columns=["edits"])
    names = {e["edit_type"] for edits in table.column("edits").to_pylist() for e in edits}
    assert names <= {"SNV", "INS", "DEL", "MNV", "INDEL"} and "SNV" in names


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


def keys(batches):
    return [(int(w), int(t)) for b in batches for w, t in zip(b["window_index"], b["tuple_index"])]


@pytest.mark.parametrize("run_name", ["targets", "lean"])
def test_shuffle_per_epoch(built, run_name):
    runs, _ = built
    path = runs[run_name]
    plain = keys(RunDataset(path, batch_size=16))

    def epoch(e, **split):
        dataset = RunDataset(path, batch_size=16, shuffle=True, seed=7, shuffle_buffer=40, **split)
        dataset.set_epoch(e)
        return keys(dataset)

    first, again, second = epoch(0), epoch(0), epoch(1)
    assert first == again and first != second and first != plain
    assert sorted(first) == sorted(second) == sorted(plain)
    halves = epoch(1, rank=0, world_size=2) + epoch(1, rank=1, world_size=2)
    assert sorted(halves) == sorted(plain)
    shuffled = RunDataset(path, batch_size=16, shuffle=True, seed=7, shuffle_buffer=40)
    shuffled.set_epoch(1)
    workers = keys(DataLoader(shuffled, batch_size=None, num_workers=2))
    assert sorted(workers) == sorted(plain) and workers == keys(DataLoader(shuffled, batch_size=None, num_workers=2))
    items = RunDataset(path, tensors=False, shuffle=True, seed=7)
    items.set_epoch(3)
    order = [(i.training_tuple.window_index, i.training_tuple.tuple_index) for i in items]
    assert sorted(order) == sorted(plain) and order != plain


def test_live_dataset_shuffles_too(built):
    _, builder = built
    live = GenoLeWMDataset.from_builder(builder, windows_per_block=SHARD, shuffle=True, shuffle_buffer=50)
    orders = []
    for e in (0, 1):
        live.set_epoch(e)
        orders.append([(t.window_index, t.tuple_index) for t in live])
    plain = [(t.window_index, t.tuple_index) for t in GenoLeWMDataset.from_builder(builder, windows_per_block=SHARD)]
    assert orders[0] != orders[1] and sorted(orders[0]) == sorted(orders[1]) == sorted(plain)


def test_length_from_the_manifests(built):
    runs, _ = built
    import json

    total = json.loads((runs["targets"] / "manifest.json").read_text())["tuples"]["total"]
    dataset = RunDataset(runs["targets"], batch_size=50)
    assert dataset.tuples() == total and len(dataset) == len(list(dataset)) == -(-total // 50)
    assert len(RunDataset(runs["targets"], tensors=False)) == total
    assert sum(dataset.tuples(Consumer(r, 2)) for r in (0, 1)) == total
    assert len(RunDataset(runs["targets"], tensors=False, rank=1, world_size=2)) == dataset.tuples(Consumer(1, 2))


def test_decode_and_labels_round_trip(built):
    from genolewm.tensors import decode

    runs, _ = built
    dataset = RunDataset(runs["lean"], batch_size=30)
    vocabulary = dataset.vocabulary
    assert set(vocabulary.sources) == {"clinvar", "gnomad_common", "synthetic_indel", "synthetic_snv"}
    items = list(RunDataset(runs["lean"], tensors=False))
    decoded = [row for b in dataset for row in decode(b, vocabulary)]
    assert len(decoded) == len(items)
    for row, item in zip(decoded, items):
        t = item.training_tuple
        assert row["window"] == item.source_window.sequence and row["target"] == t.target_window
        assert row["edits"] == [(e.rel_pos, e.ref, e.alt, e.edit_type, s) for e, s in zip(t.rel_edits, t.edit_sources)]
        assert (row["requested_source"], row["chrom"]) == (t.requested_source, t.chrom)
        assert (row["window_index"], row["tuple_index"]) == (t.window_index, t.tuple_index)


@pytest.mark.parametrize("run_name", ["targets", "lean"])
def test_shuffled_batches_hold_each_tuples_own_windows_and_targets(built, run_name):
    """A shuffled batch gathers its rows from several shards: each row keeps its own window and target."""
    from genolewm.tensors import decode

    runs, _ = built
    dataset = RunDataset(runs[run_name], batch_size=24, shuffle=True, seed=3, shuffle_buffer=60)
    truth = {(i.training_tuple.window_index, i.training_tuple.tuple_index): i
             for i in RunDataset(runs[run_name], tensors=False)}
    rows = [row for b in dataset for row in decode(b, dataset.vocabulary)]
    assert len(rows) == len(truth)
    for row in rows:
        item = truth[(row["window_index"], row["tuple_index"])]
        assert row["window"] == item.source_window.sequence and row["target"] == item.training_tuple.target_window


def test_batching_a_batched_dataset_is_a_clear_error(built):
    runs, _ = built
    with pytest.raises(ValueError, match=r"yields whole batches already: use DataLoader\(dataset, batch_size=None\)"):
        next(iter(DataLoader(RunDataset(runs["targets"], batch_size=8), batch_size=4)))
    batch = next(iter(DataLoader(RunDataset(runs["targets"], batch_size=8), batch_size=None, pin_memory=False)))
    assert batch["window"].shape[0] == 8


def documented_code(page: str, marker: str) -> str:
    """The Python block a page marks with ``<!-- marker -->`` ... ``<!-- /marker -->``."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / page).read_text()
    return re.search(rf"<!-- {marker} -->\n```python\n(.*?)```\n<!-- /{marker} -->", text, re.S).group(1)


@pytest.mark.slow
def test_documented_training_loop_runs(built, capsys):
    runs, _ = built
    code = documented_code("docs/guide/training.md", "training-loop")
    exec(compile(code, "docs/guide/training.md", "exec"), {"RUN": str(runs["targets"])})
    lines = capsys.readouterr().out.splitlines()
    assert "batches per epoch" in lines[0] and lines[1].startswith("1 ")


@pytest.mark.slow
def test_readme_reading_a_run_runs(built, capsys):
    import json

    runs, _ = built
    exec(compile(documented_code("README.md", "read-run"), "README.md", "exec"), {"RUN": str(runs["targets"])})
    tuples = capsys.readouterr().out.split()[0]
    assert int(tuples) == json.loads((runs["targets"] / "manifest.json").read_text())["tuples"]["total"]
