"""Reading finished runs: sharded sweeps as one dataset, runs that do not belong together refused,
and the arrays format read back exactly like Parquet."""

from collections import Counter

import numpy as np
import pytest

from genolewm.build import run
from genolewm.dataset import RunDataset
from genolewm.errors import ConfigError, ContractError, InputError
from genolewm.runs import RunSet, read_tuples, read_windows
from genolewm.tokens import encode
from genolewm.types import ShardRef


def rows(run_dir, table):
    runs = RunSet(run_dir, complete=False)
    read = runs.reader.window_rows if table == "windows" else runs.reader.tuple_rows
    return [r for k in runs.reader.blocks(run_dir) for r in read(ShardRef(run_dir, k))]


def test_shard_runs_add_up_to_the_whole_build(compose_cfg, tmp_path):
    overrides = ["holdout=rfc", "mix=multi", "output.windows_per_shard=5"]
    whole = run(compose_cfg(overrides), str(tmp_path / "whole"), progress=False)
    parts = [run(compose_cfg(overrides + [f"shard.index={i}", "shard.count=3"]), str(tmp_path / f"s{i}"),
                 progress=False) for i in range(3)]
    key = {"windows": lambda r: r["window_index"], "tuples": lambda r: (r["window_index"], r["tuple_index"])}
    for table, order in key.items():
        union = [r for i in range(3) for r in rows(tmp_path / f"s{i}", table)]
        assert sorted(union, key=order) == rows(tmp_path / "whole", table)
    for field in ("seen", "kept", "excluded_by_holdout", "skipped_n"):
        assert sum(p["windows"][field] for p in parts) == whole["windows"][field]
    assert sum((Counter(p["variants_skipped"]) for p in parts), Counter()) == Counter(whole["variants_skipped"])
    assert sum(p["shards"] for p in parts) == whole["shards"]
    assert [p["shard"] for p in parts] == [{"index": i, "count": 3} for i in range(3)]
    with pytest.raises(ConfigError, match=r"shard.index=3, shard.count=3"):
        run(compose_cfg(overrides + ["shard.index=3", "shard.count=3"]), str(tmp_path / "bad"), progress=False)

    # The shard runs read as one dataset are the unsharded build.
    shards = [tmp_path / f"s{i}" for i in (2, 0, 1)]
    assert list(RunSet(shards).tuples()) == list(read_tuples(tmp_path / "whole"))
    with pytest.raises(InputError, match=r"shard indices \[0, 1\] of shard.count \[3\] do not make a whole build"):
        RunSet(shards[1:])
    assert len(list(RunSet(shards[1:], complete=False).windows())) < whole["windows"]["kept"]
    with pytest.raises(InputError, match="runs overlap"):
        RunSet([tmp_path / "whole", tmp_path / "s0"], complete=False)


@pytest.mark.parametrize(
    "other, differs",
    [
        (["seed=7"], "data_identity.seed"),
        (["mix.counts.gnomad_common=2"], "data_identity.mix.counts"),
        (["windows.window_bp=12000"], "data_identity.windows"),
        (["output.store_targets=false"], "format"),
        (["providers.gnomad_common.min_af=0.05"], "data_identity.providers.gnomad_common"),
        (["holdout=chr21"], "data_identity.holdout"),
        (["target.pad=N"], "data_identity.target.pad"),
    ],
)
def test_runs_that_do_not_belong_together_are_refused(compose_cfg, tmp_path, other, differs):
    base = ["output.windows_per_shard=5", "shard.count=2"]
    run(compose_cfg(base + ["shard.index=0"]), str(tmp_path / "a"), progress=False)
    run(compose_cfg(base + ["shard.index=1"] + other), str(tmp_path / "b"), progress=False)
    with pytest.raises(InputError, match=rf"b: manifest {differs} differs from .*a; these runs are not parts of one build"):
        RunSet([tmp_path / "a", tmp_path / "b"])


def test_runs_on_another_reference_are_refused(compose_cfg, tmp_path):
    from conftest import write_fasta
    import pysam

    demo = pysam.FastaFile(compose_cfg().paths.reference)
    seqs = {name: demo.fetch(name) for name in demo.references}
    seqs["chr21"] = seqs["chr21"][:-1] + ("A" if seqs["chr21"][-1] != "A" else "C")
    other = write_fasta(tmp_path / "other.fa", seqs)
    base = ["output.windows_per_shard=5", "shard.count=2"]
    run(compose_cfg(base + ["shard.index=0"]), str(tmp_path / "a"), progress=False)
    run(compose_cfg(base + ["shard.index=1", f"paths.reference={other}"]), str(tmp_path / "b"), progress=False)
    with pytest.raises(InputError, match=r"manifest data_identity.inputs differs"):
        RunSet([tmp_path / "a", tmp_path / "b"])


@pytest.mark.parametrize("overrides", [["holdout=rfc"], ["mix=multi", "output.store_targets=false"],
                                       ["windows=corpus", "experiment=corpus_pretrain"]])
def test_arrays_format_reads_like_parquet(compose_cfg, tmp_path, overrides):
    parquet = run(compose_cfg(overrides + ["output.windows_per_shard=7"]), str(tmp_path / "p"), progress=False)
    arrays = run(compose_cfg(overrides + ["output=arrays", "output.windows_per_shard=7"]), str(tmp_path / "a"),
                 progress=False)
    assert arrays["format"]["name"] == "arrays" and arrays["tuples"] == parquet["tuples"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [".genolewm.lock", "README.md", "arrays", "config.yaml",
                                                                 "manifest.json"]
    assert list(read_tuples(tmp_path / "a")) == list(read_tuples(tmp_path / "p"))
    assert list(read_windows(tmp_path / "a")) == list(read_windows(tmp_path / "p"))
    assert rows(tmp_path / "a", "tuples") == rows(tmp_path / "p", "tuples")
    for shuffle in (False, True):  # in order: slices of shards; shuffled: rows gathered from several shards
        for a, p in zip(RunDataset(tmp_path / "a", batch_size=50, shuffle=shuffle, seed=1, shuffle_buffer=40),
                        RunDataset(tmp_path / "p", batch_size=50, shuffle=shuffle, seed=1, shuffle_buffer=40),
                        strict=True):
            assert a.keys() == p.keys() and all(np.array_equal(a[k], p[k]) for k in a)


def test_targets_of_varying_length_are_refused_not_misaligned(compose_cfg, tmp_path):
    """Without preserve_length targets differ in length: token rows cannot hold them. The arrays format
    refuses before publishing anything, and tensor batches of such a Parquet run are a clear error, even
    where the lengths happen to add up to whole rows."""
    with pytest.raises(ConfigError, match=r"output=arrays .* target.preserve_length=false .* output=parquet"):
        run(compose_cfg(["output=arrays", "target.preserve_length=false"]), str(tmp_path / "a"), progress=False)
    assert [p.name for p in (tmp_path / "a").iterdir()] == [".genolewm.lock"]
    run(compose_cfg(["target.preserve_length=false", "mix=default"]), str(tmp_path / "p"), progress=False)
    with pytest.raises(ContractError, match=r"token rows need sequences of one length, not \d+ and \d+ bases"):
        next(iter(RunDataset(tmp_path / "p", batch_size=64)))
    with pytest.raises(ContractError, match="token rows need sequences of one length, not 4 and 3 bases"):
        encode(["ACGT", "ACG", "ACGTA"])


def test_arrays_reader_maps_only_what_a_batch_needs(compose_cfg, tmp_path):
    run(compose_cfg(["output=arrays", "output.windows_per_shard=7"]), str(tmp_path / "a"), progress=False)
    runs = RunSet(tmp_path / "a")
    arrays = runs.reader.shard_arrays(runs.shards[0])
    assert isinstance(arrays["target"], np.memmap) and isinstance(arrays["window_tokens"], np.memmap)
    assert arrays["target"].shape[1] == 12_288 and arrays["target"].dtype == np.uint8
