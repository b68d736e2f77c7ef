import collections

import pytest
from torch.utils.data import DataLoader

from genolewm.build import make_builder
from genolewm import GenoLeWMDataset
from genolewm.holdout import HoldoutPolicy
from genolewm.mix import mix_from_counts
from genolewm.providers import SyntheticIndel, SyntheticSnv
from genolewm.windows import ReferenceWindows


def as_multiset(items):
    return collections.Counter((t.window_index, t.tuple_index, t.rel_edits, t.target_window) for t in items)


@pytest.fixture(scope="module")
def demo_dataset():
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from genolewm.build import CONFIG_PATH

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
        cfg = compose(config_name="build", overrides=["holdout=chr8"])
    GlobalHydra.instance().clear()
    return GenoLeWMDataset.from_builder(make_builder(cfg)[0])


@pytest.mark.parametrize("workers, context", [(2, None), (2, "spawn")])
def test_same_tuples_whatever_the_workers(demo_dataset, workers, context):
    single = list(demo_dataset)
    assert single and len(single) % 8 == 0
    loader = DataLoader(demo_dataset, batch_size=None, num_workers=workers, multiprocessing_context=context)
    assert as_multiset(loader) == as_multiset(single)


def test_dataset_constructor_validates_and_streams(small_genome):
    fasta, seqs = small_genome
    dataset = GenoLeWMDataset(
        ReferenceWindows(fasta=fasta, window_bp=4_000, stride_bp=4_000, margin_bp=0),
        {"synthetic_snv": SyntheticSnv(), "synthetic_indel": SyntheticIndel()},
        seed=5, mix=mix_from_counts({"synthetic_snv": 2, "synthetic_indel": 1}), fallbacks={},
        holdouts=HoldoutPolicy(holdout_chroms=("chr2",)),
    )
    pairs = list(dataset.iter_with_source_windows())
    assert len(pairs) == 3 * 10
    for item, window in pairs:
        assert window.chrom == "chr1" and item.window_id == window.window_id
        assert window.sequence == seqs["chr1"][window.start_bp : window.end_bp]
