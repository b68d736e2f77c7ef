"""``python -m genolewm.build``: compose the config, build the tuples, write the run.

Hydra lives here and in ``conf/``; everything else is plain library code.
Bad configuration or input stops the run with one line on stderr naming
what to fix, exit status 2, and no finished-looking output.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from .audit import AuditError, audit_run
from .builder import TupleBuilder
from .demo import demo_path
from .errors import ConfigError, GenolewmError
from .mix import MultiEdit, mix_from_counts
from .partition import Consumer
from .store import OutputSettings, write_run

# A checkout (or editable install) reads the top-level conf/; a wheel ships it as genolewm.conf.
_CHECKOUT_CONF = Path(__file__).resolve().parent.parent / "conf"
CONFIG_PATH = str(_CHECKOUT_CONF) if (_CHECKOUT_CONF / "build.yaml").is_file() else "pkg://genolewm.conf"

if not OmegaConf.has_resolver("genolewm.demo"):
    OmegaConf.register_new_resolver("genolewm.demo", demo_path)

INPUT_PATH_KEYS = ("reference", "gnomad", "clinvar", "holdout_bed", "holdout_keys", "corpus")


def _missing_message(cfg: DictConfig, exc: MissingMandatoryValue) -> str:
    """Name the key the user must set: the paths.* key a node interpolates, or the node itself."""
    source = OmegaConf.to_container(cfg, resolve=False)
    for part in str(exc.full_key).split("."):
        source = source.get(part) if isinstance(source, dict) else None
    key = source[2:-1] if isinstance(source, str) and source.startswith("${") else exc.full_key
    return f"{key} is required here but not set (???); pass it on the command line, e.g. {key}=/path/to/file"


def _instantiate(cfg: DictConfig, key: str):
    """Hydra instantiation of ``cfg[key]`` with errors named by config key, on one line."""
    node = OmegaConf.select(cfg, key)
    try:
        return instantiate(node)
    except InstantiationException as exc:
        cause = exc.__cause__
        if isinstance(cause, GenolewmError):
            raise cause
        raise ConfigError(f"{key}: {cause or exc}".replace("\n", " ")) from exc
    except MissingMandatoryValue as exc:
        raise ConfigError(_missing_message(cfg, exc)) from exc
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{key}: {str(exc).splitlines()[0]}") from exc


def absolute_paths(cfg: DictConfig) -> None:
    """Resolve relative input paths against the launch directory, once."""
    for key in INPUT_PATH_KEYS:
        if key in cfg.paths and not OmegaConf.is_missing(cfg.paths, key) and cfg.paths[key] is not None:
            cfg.paths[key] = os.path.abspath(os.path.expanduser(str(cfg.paths[key])))


def make_builder(cfg: DictConfig) -> tuple[TupleBuilder, OutputSettings, list[str]]:
    """Instantiate every group and check them together before any work starts."""
    windows = _instantiate(cfg, "windows")
    providers = {str(name): _instantiate(cfg, f"providers.{name}") for name in cfg.providers}
    try:
        mix = mix_from_counts(OmegaConf.to_container(cfg.mix.counts, resolve=True))
        multi_edit = MultiEdit(**OmegaConf.to_container(cfg.mix.multi_edit, resolve=True))
        fallbacks = OmegaConf.to_container(cfg.fallback, resolve=True) or {}
        seed, edge_margin, target, split = cfg.seed, cfg.edge_margin, cfg.target, cfg.split
    except (OmegaConfBaseException, TypeError) as exc:
        raise ConfigError(str(exc).splitlines()[0]) from exc
    builder = TupleBuilder(
        windows=windows, providers=providers, seed=seed, mix=mix, fallbacks=fallbacks,
        holdouts=_instantiate(cfg, "holdout"), preserve_length=target.preserve_length, pad=target.pad,
        edge_margin=edge_margin, multi_edit=multi_edit, split=split,
    )
    output = _instantiate(cfg, "output")
    inputs = [getattr(windows, "fasta", None) or getattr(windows, "path", None)]
    inputs += [p.path for p in providers.values() if hasattr(p, "path")]
    inputs += [v for k, v in cfg.holdout.items() if k in ("bed", "keys") and v]
    return builder, output, [str(p) for p in inputs if p]


def summary(run_dir: str, manifest: dict) -> str:
    w, t = manifest["windows"], manifest["tuples"]
    lines = [
        f"genolewm build -> {run_dir}",
        f"  windows   seen {w['seen']}  kept {w['kept']}  held out {w['excluded_by_holdout']}  "
        f"mostly-N {w['skipped_n']}",
        f"  tuples    {t['total']}  ({manifest['tuples_per_s']} tuples/s, {manifest['elapsed_s']} s)",
    ]
    lines += [f"    {src:<18} requested {t['by_requested_source'].get(src, 0):>8}  "
              f"served {t['by_edit_source'].get(src, 0):>8}"
              for src in sorted(set(t["by_edit_source"]) | set(t["by_requested_source"]))]
    if "audit" in manifest:
        lines.append(f"  audit     ok ({manifest['audit']['tuples']} tuples checked)")
    if manifest["fallbacks"]:
        lines.append("  fallbacks " + ", ".join(f"{k} {v}" for k, v in manifest["fallbacks"].items()))
    if manifest["variants_skipped"]:
        lines.append("  skipped   " + ", ".join(f"{k} {v}" for k, v in manifest["variants_skipped"].items()))
    return "\n".join(lines)


def run(cfg: DictConfig, run_dir: str, progress: bool = True) -> dict:
    """Build the run described by a composed config into ``run_dir``; return its manifest.

    With ``audit=true`` the finished run is audited; a run that fails keeps
    its files but its manifest is renamed ``manifest.failed.json``, so no
    reader takes it for a finished build.
    """
    absolute_paths(cfg)
    builder, output, inputs = make_builder(cfg)
    config_yaml = OmegaConf.to_yaml(cfg, resolve=True, sort_keys=True)
    shard = Consumer(cfg.shard.index, cfg.shard.count)
    manifest = write_run(builder, run_dir, output, config_yaml=config_yaml, input_paths=inputs, progress=progress,
                         workers=cfg.workers, shard=shard)
    if cfg.audit:
        try:
            manifest["audit"] = audit_run(run_dir)
        except AuditError:
            os.replace(Path(run_dir) / "manifest.json", Path(run_dir) / "manifest.failed.json")
            raise
    return manifest


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="build")
def main(cfg: DictConfig) -> None:
    run_dir = HydraConfig.get().runtime.output_dir
    try:
        manifest = run(cfg, run_dir)
    except GenolewmError as exc:
        print(f"genolewm.build: error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(summary(run_dir, manifest))


if __name__ == "__main__":
    main()
