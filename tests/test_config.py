"""Config snapshots and the composition of every shipped option.

Snapshots are the composed, resolved build configs; a change to a shipped
default fails here until it is made on purpose:
    python -m pytest tests/test_config.py --update-snapshots
"""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from genolewm.config import CONFIG_PATH, make_builder
from genolewm.demo import DEMO_DIR
from genolewm.errors import ConfigError

from conftest import release_paths

SNAPSHOTS = Path(__file__).parent / "snapshots"
COMBINATIONS = {
    "default": [],
    "default_chr8": ["mix=default", "holdout=chr8"],
    "snv_only": ["mix=snv_only"],
    "multi_pad_n": ["mix=multi", "target.pad=N"],
    "realism_rfc": ["mix=realism", "holdout=rfc"],
    "corpus": ["windows=corpus"],
    "corpus_pretrain": ["experiment=corpus_pretrain"],
    "strict_keys": ["fallback=strict", "holdout=keys", "mix=synthetic"],
    "val_audit": ["holdout=rfc", "split=val", "audit=true"],
    "prepare": ["input=/data/release.vcf.bgz"],
    "regions_arrays": ["windows=regions", "output=arrays"],
    "common_indels": ["providers=with_common_indels", "mix=with_common_indels"],
    "haplotypes": ["providers=with_haplotypes", "mix=haplotypes", "providers.haplotypes.max_edits=16"],
}


def options():
    """(group, option) of every config group a researcher sweeps (hydra/ holds launcher presets)."""
    conf = Path(CONFIG_PATH)
    return [(g.name, f.stem) for g in sorted(conf.iterdir())
            if g.is_dir() and not g.name.startswith("_") and g.name not in ("hydra", "prepare")
            for f in sorted(g.glob("*.yaml"))]


def snapshot_text(cfg) -> str:
    return OmegaConf.to_yaml(cfg, resolve=True).replace(str(DEMO_DIR), "<demo_data>")


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_snapshot(compose_cfg, request, name):
    text = snapshot_text(compose_cfg(COMBINATIONS[name], config_name="prepare" if name == "prepare" else "build"))
    path = SNAPSHOTS / f"{name}.yaml"
    if request.config.getoption("--update-snapshots"):
        path.write_text(text)
    assert path.is_file(), f"missing snapshot {path}; run pytest --update-snapshots on purpose"
    assert text == path.read_text(), f"composed config {name} differs from {path}"


def test_every_group_is_snapshotted_somewhere():
    groups = {g for g, _ in options()}
    assert groups == {"paths", "windows", "providers", "mix", "fallback", "holdout", "output", "experiment"}


@pytest.mark.parametrize("group, option", options())
def test_every_option_composes_and_instantiates(compose_cfg, releases_dir, group, option):
    overrides = [f"{group}={option}"]
    if group == "providers" and option.startswith("gnomad_v4_"):  # the release presets, on release-shaped files
        overrides += release_paths(releases_dir, option.rsplit("_", 1)[1])
    if group == "paths" and option == "user":
        with pytest.raises(ConfigError, match=r"^paths.reference is required here but not set .*paths.reference=/path/to/file$"):
            make_builder(compose_cfg(overrides))
        return
    if group == "providers" and option == "synthetic":
        overrides += ["mix=synthetic", "fallback=strict"]
    if group == "mix" and option == "synthetic":
        overrides += ["providers=synthetic", "fallback=strict"]
    if group == "mix" and option == "with_common_indels":
        overrides += ["providers=with_common_indels"]
    if group == "mix" and option == "haplotypes":
        overrides += ["providers=with_haplotypes"]
    builder, writer = make_builder(compose_cfg(overrides))
    inputs = builder.inputs()
    assert builder.settings.mix and writer.windows_per_shard > 0 and inputs
    assert all(Path(p).is_absolute() for p in inputs)


def test_every_target_names_one_class(compose_cfg):
    """Each group option's _target_ is a class (or a class's constructor), never a module-level function."""
    import inspect

    from hydra.utils import get_method

    for group, option in options():
        if group in ("paths", "experiment"):
            continue
        cfg = compose_cfg([f"{group}={option}"] + (["providers=with_common_indels"] if option == "with_common_indels"
                                                   else []))
        nodes = cfg[group].values() if group == "providers" else [cfg[group]]
        for node in nodes:
            target = get_method(node._target_)
            assert inspect.isclass(target) or inspect.isclass(getattr(target, "__self__", None)), (group, option)


@pytest.mark.parametrize("override, key", [
    ("workers=1.5", "workers"), ("windows.window_bp=abc", "windows.window_bp"), ("edge_margin=abc", "edge_margin"),
    ("providers.gnomad_common.min_af=abc", "providers.gnomad_common.min_af"), ("seed=x", "seed"),
    ("mix.counts.gnomad_common=1.5", "mix.counts.gnomad_common"), ("+windows.windw_bp=100", "windw_bp"),
    ("+providers.gnomad_common.min_aff=0.1", "min_aff"),
])
def test_wrong_types_and_keys_fail_when_composed(compose_cfg, override, key):
    from hydra.errors import HydraException

    from genolewm.config import one_line

    try:
        make_builder(compose_cfg([override]))
    except HydraException as exc:  # caught when composed: a wrong type, or a key its schema lacks
        line = one_line(exc)
    except ConfigError as exc:  # an added key (+key=...) the target does not take: caught before any work
        line = str(exc)
    else:
        pytest.fail(f"{override} was accepted")
    assert "\n" not in line and key in line


def test_user_paths_point_at_own_files(compose_cfg, tmp_path):
    demo = Path(DEMO_DIR)
    overrides = ["paths=user", "holdout=rfc"] + [
        f"paths.{k}={demo / v}" for k, v in {
            "reference": "ref.fa", "gnomad": "gnomad.vcf.gz", "clinvar": "clinvar.vcf.gz",
            "holdout_bed": "holdout.bed", "holdout_keys": "holdout_keys.txt", "corpus": "corpus.fa",
            "regions": "regions.bed"}.items()]
    builder, _ = make_builder(compose_cfg(overrides))
    assert str(demo / "holdout.bed") in builder.inputs() and builder.holdouts.holdout_chroms == ("chr21",)


def test_slurm_launcher_preset_composes():
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
        cfg = compose(config_name="build", overrides=["hydra/launcher=slurm", "workers=4"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert launcher.cpus_per_task == 4 and launcher.timeout_min == 240
