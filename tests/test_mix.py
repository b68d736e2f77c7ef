"""The mix and the fallbacks: objects with their own checks, and the YAML defaults equal to the code's."""

import random

import pytest
from omegaconf import OmegaConf

from genolewm.config import CONFIG_PATH
from genolewm.errors import ConfigError, ContractError
from genolewm.mix import DEFAULT_EDIT_SOURCE_COUNTS, DEFAULT_SOURCE_FALLBACKS, Fallbacks, Mix, MultiEdit
from genolewm.types import EditSourceCount


def test_mix_keeps_order_and_counts():
    mix = Mix({"b": 2, "a": 0, "c": 1})
    assert [s.source for s in mix] == ["b", "a", "c"] and mix.per_window == {"b": 2, "c": 1}
    assert Mix().counts == DEFAULT_EDIT_SOURCE_COUNTS and Mix().multi_edit == MultiEdit()
    assert Mix({"b": 2}).to_dict() == {"counts": [["b", 2]], "multi_edit": {"fraction": 0.0, "max_edits": 1}}


@pytest.mark.parametrize(
    "counts, error, message",
    [
        ({}, ConfigError, "mix.counts: empty"),
        ({"a": 0}, ConfigError, "every count is 0"),
        ({"a": -1}, ContractError, r"mix.counts.a=-1: must be an integer >= 0"),
        ({"a": 1.5}, ContractError, r"mix.counts.a=1.5"),
        ({"a": True}, ContractError, r"mix.counts.a=True"),
        ((EditSourceCount("a", 1), EditSourceCount("a", 1)), ConfigError, "mix.counts.a: listed twice"),
    ],
)
def test_mix_rejects(counts, error, message):
    with pytest.raises(error, match=message):
        Mix(counts)


def test_edit_source_count_contract():
    with pytest.raises(ContractError, match="EditSourceCount.source=''"):
        EditSourceCount("", 1)
    with pytest.raises(ContractError, match="must be an integer"):
        EditSourceCount("a", False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"fraction": 1.5}, "mix.multi_edit.fraction=1.5"),
        ({"fraction": 0.1, "max_edits": 1}, "mix.multi_edit.max_edits=1: must be >= 2"),
        ({"max_edits": 0}, "mix.multi_edit.max_edits=0"),
    ],
)
def test_multi_edit_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        MultiEdit(**kwargs)


def test_multi_edit_sizes_are_in_range():
    sizes = MultiEdit(0.5, 4).sizes(random.Random(1), 400)
    assert set(sizes) == {1, 2, 3, 4} and MultiEdit().sizes(random.Random(1), 5) == [1] * 5


def test_fallbacks():
    fb = Fallbacks(gnomad_common="synthetic_snv", clinvar=None)
    assert dict(fb) == {"gnomad_common": "synthetic_snv", "clinvar": None} and fb.get("x") is None
    with pytest.raises(ConfigError, match="cycle a -> b -> a"):
        Fallbacks(a="b", b="a")
    with pytest.raises(ConfigError, match="fallback.a=3"):
        Fallbacks(a=3)
    with pytest.raises(ConfigError, match="fallback.a=b: no provider"):
        Fallbacks(a="b").check_sources(["a"])


def test_yaml_defaults_equal_the_code():
    mix = OmegaConf.load(f"{CONFIG_PATH}/mix/default.yaml")
    assert Mix(dict(mix.counts)).counts == DEFAULT_EDIT_SOURCE_COUNTS
    fallback = OmegaConf.to_container(OmegaConf.load(f"{CONFIG_PATH}/fallback/default.yaml"))
    fallback.pop("_target_")
    assert fallback == DEFAULT_SOURCE_FALLBACKS
