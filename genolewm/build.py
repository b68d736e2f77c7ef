"""``python -m genolewm.build``: compose the config, build the tuples, write the run.

Hydra lives here, in `genolewm.config` and in ``conf/``; everything else
is plain library code. Bad configuration or input stops the run with one
line on stderr naming what to fix, exit status 2, and no finished-looking
output.
"""

from __future__ import annotations

import logging
import os
import textwrap
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from .config import CONFIG_PATH, absolute_paths, hydra_command, make_builder
from .errors import Abort, GenolewmError
from .logs import LOG_ONLY
from .partition import Consumer
from .store import write_run

log = logging.getLogger("genolewm.build")  # not __main__ when run with python -m


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
    sequences = manifest["sequences"]
    left_out = ", ".join(f"{kind} {n}" for kind, n in sequences["windows"]["left_out"].items())
    lines.append(f"  sequences tiled {sequences['windows']['tiled']}" + (f"  left out: {left_out}" if left_out else ""))
    if manifest["masked_bases"]:
        lines.append("  IUPAC     read as N: " + ", ".join(f"{c} {n}" for c, n in manifest["masked_bases"].items()))
    for key, where in (("not_in_reference", "not in the reference"), ("not_tiled", "the windows do not tile")):
        for source, contigs in sequences.get(key, {}).items():
            lines.append(f"  {source} records on contigs {where}: "
                         + ", ".join(f"{c} {'?' if n is None else n}" for c, n in contigs.items()))
    lines += [f"  warning   {message}" for message in manifest["warnings"]]
    for label, counts in (("fallbacks", manifest["fallbacks"]), ("skipped", manifest["variants_skipped"])):
        items = [f"{k} {v}" for k, v in counts.items()]
        # Wrapped between items, never inside one.
        lines += [line.replace("\0", " ") for line in textwrap.wrap(
            ", ".join(item.replace(" ", "\0") for item in items), width=100,
            initial_indent=f"  {label:<9} ", subsequent_indent=" " * 12)]
    return "\n".join(lines)


def run(cfg: DictConfig, run_dir: str, progress: bool = True) -> dict:
    """Build the run described by a composed config into ``run_dir``; return its manifest.

    With ``audit=true`` the finished run is audited; a run that fails keeps
    its files but its manifest is renamed ``manifest.failed.json``, so no
    reader takes it for a finished build. With ``report=true`` it gets its
    ``report.html``.
    """
    absolute_paths(cfg)
    builder, writer = make_builder(cfg)
    # In composed order: mix.counts order is the order tuples are built in, so sorting would change the run.
    config_yaml = OmegaConf.to_yaml(cfg, resolve=True)
    shard = Consumer(cfg.shard.index, cfg.shard.count)
    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    manifest = write_run(builder, run_dir, writer, config_yaml=config_yaml, progress=progress,
                         workers=cfg.workers, shard=shard, overwrite=cfg.overwrite, overrides=overrides)
    if cfg.audit:
        from .audit import AuditError, audit_run  # imported only when asked for: start-up stays short

        try:
            manifest["audit"] = audit_run(run_dir, progress)
        except AuditError:
            os.replace(Path(run_dir) / "manifest.json", Path(run_dir) / "manifest.failed.json")
            raise
    if cfg.report:
        from .report import write_report

        log.info("report: %s", write_report(run_dir, progress))
    return manifest


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="build")
def _build(cfg: DictConfig) -> None:
    """The Hydra task: errors are raised, so every job of a sweep runs and records its own outcome."""
    run_dir = HydraConfig.get().runtime.output_dir
    try:
        manifest = run(cfg, run_dir)
    except GenolewmError as exc:
        log.error("%s", exc, extra=LOG_ONLY)  # the console shows it once, as the command's one line on stderr
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # Hydra records the failed job; the other jobs run on
        raise Abort(exc) from exc
    log.info(summary(run_dir, manifest))


def main() -> None:
    hydra_command(_build, "genolewm.build")


if __name__ == "__main__":
    main()
