"""The run's ``README.md``: a Hugging Face dataset card, so ``datasets.load_dataset(run_dir, "tuples")``
works, and a short description of the run for a person (config, counts, schema)."""

from __future__ import annotations

import json

from ..types import RunWriter
from .schema import TUPLES_SCHEMA, WINDOWS_SCHEMA


def _front_matter(writer: RunWriter) -> str:
    files = writer.data_files()
    if not files:
        return ""
    lines = ["---", "configs:"]
    for i, (name, pattern) in enumerate(files.items()):
        lines += [f"- config_name: {name}", f'  data_files: "{pattern}"'] + (["  default: true"] if i == 0 else [])
    return "\n".join(lines + ["---", ""])


def _counts(manifest: dict) -> list[str]:
    w, t = manifest["windows"], manifest["tuples"]
    lines = ["| | count |", "|---|---|", f"| windows seen | {w['seen']} |", f"| windows kept | {w['kept']} |",
             f"| windows held out | {w['excluded_by_holdout']} |", f"| windows mostly N | {w['skipped_n']} |",
             f"| tuples | {t['total']} |"]
    lines += [f"| tuples requested from {k} | {v} |" for k, v in t["by_requested_source"].items()]
    lines += [f"| tuples served by {k} | {v} |" for k, v in t["by_edit_source"].items()]
    lines += [f"| fallback {k} | {v} |" for k, v in manifest["fallbacks"].items()]
    return lines


def dataset_card(manifest: dict, writer: RunWriter) -> str:
    """The card of a finished run, from its manifest and output format."""
    mix = ", ".join(f"{source} {count}" for source, count in manifest["mix"]["counts"])
    loading = [
        "```python",
        "import datasets",
        'tuples = datasets.load_dataset("RUN_DIR", "tuples", split="train")',
        "import pandas",
        'tuples = pandas.read_parquet("RUN_DIR/tuples")',
        "```",
    ] if writer.data_files() else ["Read it with `genolewm.runs.read_tuples` or `genolewm.dataset.RunDataset`."]
    schema = [f"- `windows`: {', '.join(f'`{n}`' for n in WINDOWS_SCHEMA.names)}",
              f"- `tuples`: {', '.join(f'`{n}`' for n in TUPLES_SCHEMA.names if n != 'target_window' or manifest['store_targets'])};"
              " each of `edits`: " + ", ".join(f"`{f.name}`" for f in TUPLES_SCHEMA.field("edits").type.value_type)]
    provenance = manifest.get("provenance", {})
    return "\n".join([
        _front_matter(writer) + "# genolewm run",
        "",
        "Training tuples (reference window, edits, target window) for a genomic world model, built by "
        f"genolewm {provenance.get('genolewm') or ''} on {provenance.get('finished_utc', '?')}.",
        "",
        f"- seed {manifest['seed']}, split `{manifest['split']}`, shard {manifest['shard']['index']} of "
        f"{manifest['shard']['count']}, format `{manifest['format']['name']}`",
        f"- mix per window: {mix}; multi-edit {json.dumps(manifest['mix']['multi_edit'])}",
        f"- edge margin {manifest['edge_margin']} bp, targets keep the window length: "
        f"{str(manifest['preserve_length']).lower()} (pad `{manifest['pad']}`)",
        f"- data identity `{manifest['data_sha256']}` (see `manifest.json`; the full config is `config.yaml`)",
        "", "## Counts", "", *_counts(manifest), "", "## Schema", "", *schema, "", "## Loading", "", *loading, "",
    ])
