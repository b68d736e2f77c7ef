"""The seed's value types: every bad field is a ContractError naming it; holdouts serialise as the seed's."""

import dataclasses
import hashlib
import json

import pytest

from genolewm.errors import ContractError, EditError
from genolewm.holdout import HoldoutPolicy
from genolewm.types import HoldoutInterval, RelEdit, TrainingDatasetItem, TrainingTuple, WindowContext


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"record_id": ""}, "WindowContext.record_id=''"),
        ({"source": ""}, "WindowContext.source=''"),
        ({"sequence": ""}, "WindowContext.sequence=''"),
        ({"chrom": ""}, "WindowContext.chrom"),
        ({"start_bp": -1}, "WindowContext.start_bp=-1"),
        ({"start_bp": 1.0}, "WindowContext.start_bp=1.0"),
        ({"start_bp": True}, "WindowContext.start_bp=True"),
        ({"sequence": "ACGU"}, "WindowContext.sequence has 'U'"),
    ],
)
def test_window_context_contract(kwargs, message):
    args = {"record_id": "r", "source": "ref", "sequence": "ACGT", "start_bp": 0, "chrom": None, **kwargs}
    with pytest.raises(ContractError, match=message):
        WindowContext(**args)


def test_window_context_values():
    w = WindowContext("r", "ref", "ACGT", 10, "chr1")
    assert w.end_bp == 14 and w.placed and w.window_id == hashlib.sha256(b"ACGT").hexdigest()
    assert not WindowContext("r", "corpus", "ACGT").placed


def test_checked_bases_skip_only_the_alphabet_scan():
    """Window sources check bases per chunk and say so; every other field is still checked, and a copy
    made with different bases is scanned again."""
    w = WindowContext("r", "ref", "ACGT", left_flank="NN", bases_checked=True)
    with pytest.raises(ContractError, match="start_bp=-1"):
        WindowContext("r", "ref", "ACGT", -1, bases_checked=True)
    with pytest.raises(ContractError, match="sequence has 'U'"):
        dataclasses.replace(w, sequence="ACGU")


def test_holdout_interval_contract():
    with pytest.raises(ContractError, match="need start_bp < end_bp"):
        HoldoutInterval("chr1", 5, 5)
    with pytest.raises(ContractError, match="start_bp"):
        HoldoutInterval("chr1", -1, 5)
    assert HoldoutInterval("chr1", 0, 5).intersects("chr1", 4, 9) and not HoldoutInterval("chr1", 0, 5).intersects(
        "chr1", 5, 9)


def test_holdout_policy_to_dict_and_identity():
    policy = HoldoutPolicy(holdout_chroms=("chr8",), intervals=(HoldoutInterval("chr1", 1, 5),),
                           edit_keys=("chr1:3:A:G",), record_ids=("rec",))
    expected = {"schema_version": "1.0.0", "holdout_chroms": ["chr8"],
                "intervals": [{"chrom": "chr1", "start_bp": 1, "end_bp": 5}], "edit_keys": ["chr1:3:A:G"],
                "record_ids": ["rec"]}
    assert policy.to_dict() == expected
    body = json.dumps(expected, sort_keys=True, separators=(",", ":")).encode("utf-8")
    assert policy.identity() == "sha256:" + hashlib.sha256(body).hexdigest()
    with pytest.raises(ContractError, match="not a HoldoutInterval"):
        HoldoutPolicy(intervals=(("chr1", 1, 5),))


def test_training_tuple_contract():
    edit = RelEdit(1, "A", "C")
    args = dict(window_id="w", source_record_id="r", edit_source="s", rel_edits=(edit,), target_window="ACGT",
                window_start_bp=0, window_end_bp=4)
    TrainingTuple(**args)
    with pytest.raises(ContractError, match="window_end_bp=0 must exceed window_start_bp=0"):
        TrainingTuple(**{**args, "window_end_bp": 0})
    with pytest.raises(ContractError, match="non-empty tuple of RelEdit"):
        TrainingTuple(**{**args, "rel_edits": ()})
    with pytest.raises(ContractError, match="not a RelEdit"):
        TrainingTuple(**{**args, "rel_edits": ((1, "A", "C"),)})


def test_training_dataset_item_has_the_seed_field_names():
    w = WindowContext("r", "ref", "ACGT")
    t = TrainingTuple("w", "r", "s", (RelEdit(1, "C", "A"),), "AAGT", 0, 4)
    item = TrainingDatasetItem(source_window=w, training_tuple=t)
    assert item.source_window is w and item.training_tuple is t


def test_rel_edit_rejects_bool_position():
    with pytest.raises(EditError):
        RelEdit(True, "A", "C")
