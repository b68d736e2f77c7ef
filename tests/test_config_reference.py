"""The generated config reference documents every key of every option of every group, and every option."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from genolewm.config import CONFIG_PATH
from genolewm.config_reference import GROUPS, markdown, rows

pytest.importorskip("griffe")
CONF = Path(CONFIG_PATH)


def leaves(node, path=(), target=None):
    """``(dotted path, the _target_ of the nearest node that has one)`` of every value (lists are values)."""
    if not isinstance(node, dict):
        yield ".".join(path), target
        return
    for key, value in node.items():
        if key != "_target_":
            yield from leaves(value, path + (key,), node.get("_target_", target))


def matches(pattern: str, kind: str, path: str) -> bool:
    want, have = pattern.split("."), path.split(".")
    if kind.startswith("dict") and len(have) > len(want):
        have = have[: len(want)]
    return len(want) == len(have) and all(w.startswith("<") or w == h for w, h in zip(want, have))


def check_documented(cfg, config: str, documented, text: str, skip=()) -> int:
    checked = 0
    for path, target in leaves(OmegaConf.to_container(cfg, resolve=False)):
        if path.split(".")[0] in skip:
            continue
        found = [r for r in documented if r.config == config and r.target == target and matches(r.key, r.type, path)]
        assert found, f"{path} (in a node of {target}) is not in the config reference"
        assert all(r.description for r in found), f"{path}: no description ({found})"
        assert any(f"| `{r.key}` |" in text for r in found), path
        checked += 1
    return checked


def option_names(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_every_key_of_every_option_is_in_the_reference(compose_cfg):
    text, documented = markdown(), rows()
    checked = 0
    for group in GROUPS:
        if group.startswith("hydra/"):
            continue  # the launcher's keys are Hydra's plugins'
        for option in option_names(group):
            checked += check_documented(compose_cfg([f"{group}={option}"]), "build", documented, text)
    prepare = compose_cfg(["input=/data/release.vcf.bgz"], config_name="prepare")
    checked += check_documented(prepare, "prepare", documented, text, skip=("paths", "providers"))
    assert checked > 500


def test_every_group_and_option_is_in_the_reference():
    text = markdown()
    for group in GROUPS:
        assert f"## {group}\n" in text
        for option in option_names(group):
            assert f"- `{group}={option}`" in text, f"{group}={option}"
            assert f'"conf/{group}/{option}.yaml"' in text


def test_a_key_without_a_docstring_is_caught(monkeypatch):
    import genolewm.config_reference as reference

    real = reference._descriptions
    monkeypatch.setattr(reference, "_descriptions", lambda source: {k: v for k, v in real(source).items()
                                                                    if k != "stride_bp"})
    undocumented = [r for r in reference.rows() if not r.description]
    assert {r.key for r in undocumented} == {"windows.stride_bp"}


def test_the_reference_names_types_and_defaults():
    by_key = {(r.key, r.target): r for r in rows()}
    window = by_key[("windows.window_bp", "genolewm.windows.ReferenceWindows")]
    assert (window.type, window.default) == ("int", "12288")
    min_af = by_key[("providers.<name>.min_af", "genolewm.providers.VariantProvider")]
    assert (min_af.type, min_af.default) == ("float | null", "null")
    assert by_key[("paths.reference", None)].default == "required"
    assert by_key[("shard.count", None)].description
    assert by_key[("holdout.keys", "genolewm.holdout.HoldoutPolicy.from_files")].description.startswith("A file of")


def test_the_reference_prints_from_the_command_line():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "genolewm.config_reference"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == markdown().strip()
