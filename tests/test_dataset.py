"""The live dataset: the same tuples however the work is split (workers, ranks, distributed)."""

import collections
import os
import pickle
import subprocess
import sys

import pytest
import torch
from torch.utils.data import DataLoader

from genolewm import GenoLeWMDataset
from genolewm.config import make_builder
from genolewm.holdout import HoldoutPolicy
from genolewm.providers import SyntheticIndel, SyntheticSnv
from genolewm.windows import ReferenceWindows

BLOCK = 4  # demo: 60 planned windows -> 15 blocks, uneven over 2, 4 or 8 consumers


def key(t):
    return (t.window_index, t.tuple_index, t.rel_edits, t.target_window)


def as_multiset(items):
    return collections.Counter(key(t) for t in items)


@pytest.fixture(scope="module")
def demo_builder():
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from genolewm.config import CONFIG_PATH

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
        cfg = compose(config_name="build", overrides=["holdout=chr8", "mix=multi"])
    GlobalHydra.instance().clear()
    return make_builder(cfg)[0]


@pytest.fixture(scope="module")
def single(demo_builder):
    items = list(GenoLeWMDataset.from_builder(demo_builder, windows_per_block=BLOCK))
    assert items and len(items) % 8 == 0
    assert items == [t for _, ts in demo_builder.iter_windows() for t in ts]
    return as_multiset(items)


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
@pytest.mark.parametrize("workers, context", [(2, None), (3, None), (2, "spawn")])
def test_same_tuples_whatever_the_workers(demo_builder, single, workers, context):
    dataset = GenoLeWMDataset.from_builder(demo_builder, windows_per_block=BLOCK)
    loader = DataLoader(dataset, batch_size=None, num_workers=workers, multiprocessing_context=context)
    assert as_multiset(loader) == single


def test_ranks_split_the_stream(demo_builder, single, monkeypatch):
    parts = [as_multiset(GenoLeWMDataset.from_builder(demo_builder, windows_per_block=BLOCK, rank=r, world_size=2))
             for r in range(2)]
    assert parts[0] and parts[1] and not set(parts[0]) & set(parts[1])
    assert parts[0] + parts[1] == single
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert as_multiset(GenoLeWMDataset.from_builder(demo_builder, windows_per_block=BLOCK)) == parts[1]


def test_ranks_times_workers(demo_builder, single):
    total = collections.Counter()
    for rank in range(2):
        dataset = GenoLeWMDataset.from_builder(demo_builder, windows_per_block=BLOCK, rank=rank, world_size=2)
        total += as_multiset(DataLoader(dataset, batch_size=None, num_workers=2))
    assert total == single


def _distributed_rank(rank, init_file, out_dir, builder):
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        items = list(GenoLeWMDataset.from_builder(builder, windows_per_block=BLOCK))
        with open(os.path.join(out_dir, f"rank{rank}.pkl"), "wb") as fh:
            pickle.dump([key(t) for t in items], fh)
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_torch_distributed_ranks(demo_builder, single, tmp_path):
    torch.multiprocessing.spawn(_distributed_rank, args=(str(tmp_path / "init"), str(tmp_path), demo_builder),
                                nprocs=2)
    keys = [pickle.loads((tmp_path / f"rank{r}.pkl").read_bytes()) for r in range(2)]
    assert keys[0] and keys[1] and collections.Counter(keys[0] + keys[1]) == single


def test_dataset_constructor_validates_and_streams(small_genome):
    fasta, seqs = small_genome
    dataset = GenoLeWMDataset(
        ReferenceWindows(fasta=fasta, window_bp=4_000, stride_bp=4_000, margin_bp=0),
        {"synthetic_snv": SyntheticSnv(), "synthetic_indel": SyntheticIndel()},
        seed=5, mix={"synthetic_snv": 2, "synthetic_indel": 1}, fallback_sources={},
        holdouts=HoldoutPolicy(holdout_chroms=("chr2",)), with_windows=True,
    )
    items = list(dataset)
    assert len(items) == 3 * 10
    for item in items:
        window = item.source_window
        assert window.chrom == "chr1" and item.training_tuple.window_id == window.window_id
        assert window.sequence == seqs["chr1"][window.start_bp : window.end_bp]


def test_providers_pickle_without_handles(demo_builder):
    list(GenoLeWMDataset.from_builder(demo_builder, windows_per_block=BLOCK, rank=0, world_size=8))
    provider = demo_builder.providers["gnomad_common"]
    assert provider._tbx is not None and len(provider._pass.rows)  # opened and filled by the iteration above
    copy = pickle.loads(pickle.dumps(provider))
    assert copy._tbx is None and copy._pass is None and copy._pools == {}


def test_dataset_takes_the_seed_window_sources(small_genome):
    from genolewm.errors import ContractError
    from genolewm.types import WindowContext

    _, seqs = small_genome
    windows = [WindowContext("chr1", "ref", seqs["chr1"][s : s + 2_000], s, "chr1") for s in range(0, 20_000, 2_000)]
    providers = {"synthetic_snv": SyntheticSnv()}
    common = dict(seed=3, mix={"synthetic_snv": 2}, fallback_sources={})
    from_list = list(GenoLeWMDataset(windows, providers, **common))
    assert len(from_list) == 20 and list(GenoLeWMDataset(lambda: iter(windows), providers, **common)) == from_list
    assert [t.window_index for t in from_list[::2]] == list(range(10))
    # Per-window streams: the same tuples whichever consumer builds a window.
    halves = [list(GenoLeWMDataset(windows, providers, windows_per_block=2, rank=r, world_size=2, **common))
              for r in (0, 1)]
    assert sorted(halves[0] + halves[1], key=lambda t: (t.window_index, t.tuple_index)) == from_list
    for bad in (42, "chr1.fa", [windows[0], "x"]):
        with pytest.raises(ContractError, match="windows"):
            GenoLeWMDataset(bad, providers, **common)


def test_live_stream_imports_only_what_it_uses():
    """pyarrow imports pandas (~0.3 s) at a process's first NumPy conversion; the VCF decoder makes none."""
    pytest.importorskip("pandas")
    code = """
import sys
from genolewm import GenoLeWMDataset, ReferenceWindows, SyntheticSnv, VariantProvider
from genolewm.demo import DEMO_DIR
providers = {"gnomad": VariantProvider(str(DEMO_DIR / "gnomad.vcf.gz"), name="gnomad", min_af=0.01),
             "clinvar": VariantProvider(str(DEMO_DIR / "clinvar.vcf.gz"), name="clinvar", clnsig=["Pathogenic"]),
             "synthetic_snv": SyntheticSnv()}
stream = GenoLeWMDataset(ReferenceWindows(fasta=str(DEMO_DIR / "ref.fa")), providers, seed=1,
                         mix={"gnomad": 2, "clinvar": 1}, fallback_sources={"clinvar": "synthetic_snv"})
assert sum(1 for _ in stream) > 100
print(sorted(m for m in ("pandas", "matplotlib") if m in sys.modules))  # torch itself imports tqdm
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[-2] == "[]"


def test_build_imports_only_what_it_uses(tmp_path):
    """Start-up imports no audit, report, bar, torch or plotting; the whole build (VCF reads, Parquet
    writes) never makes pyarrow import pandas."""
    pytest.importorskip("pandas")
    unused = "('genolewm.audit', 'genolewm.report', 'tqdm', 'torch', 'matplotlib', 'pandas')"
    code = f"""
import sys
import genolewm.build
print(sorted(m for m in {unused} if m in sys.modules))
from hydra import compose, initialize_config_dir
from genolewm.config import CONFIG_PATH
with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
    cfg = compose("build", overrides=["holdout=rfc"])
genolewm.build.run(cfg, sys.argv[1], progress=False)
print(sorted(m for m in {unused} if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "[]"], out.stdout
