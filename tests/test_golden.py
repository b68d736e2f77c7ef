"""The tuples of the shipped configs on the demo data, pinned: a change to any draw, order or field fails here.

Each is the sha256 of ``{"<table>/part-k.parquet": sha256 of the shard's rows as sorted-key JSON}``, so
it does not depend on the Parquet writer's version. Change one only on purpose, and say why in
``schema_version``. History: the digests taken before the extension-point redesign (issue 9) held after
it; schema_version 3 (issue 12) added each edit's variant identity (chrom, pos, id, af, clnsig) to the
rows, the only change: the draws, the order and every other field are the same.
"""

import hashlib
import json

import pyarrow.parquet as pq
import pytest

from genolewm.build import run

GOLDEN = {
    "default_chr8": (["holdout=chr8"], "49f7a1bfba610d785ea4fdefb2fbb6c1a3f6de97ac28cd6a0a933ab4fbed545d"),
    "multi_pad_n": (["mix=multi", "target.pad=N"], "8e3f21fd1a09bf80d353807508416c70187b6ab93a38cd420de009b13de7a606"),
    "realism_rfc": (["mix=realism", "holdout=rfc"], "c574bd3a903dbb4d9d57811d236506ec7e594f5d17d93b017c6b89feadbdd1d1"),
    "val_rfc": (["holdout=rfc", "split=val"], "98ff635192c52e1d80664e586b93121e21cd8da879bf05711997e55607c69e8e"),
    "corpus_pretrain": (["experiment=corpus_pretrain"],
                        "bfbd50a1ac8b1f1618462355e197c8d354074ba65eb2baee32de1a8f8e594d37"),
    "nostore_seed3": (["seed=3", "output.store_targets=false", "output.windows_per_shard=7"],
                      "1dde54b77ed70e59b140cabe66e7078e4f356cd1b942b21f76d17b49f9bb4c36"),
}


def content_digest(run_dir) -> str:
    files = {}
    for table in ("windows", "tuples"):
        for part in sorted((run_dir / table).glob("*.parquet")):
            rows = pq.read_table(part).to_pylist()
            files[f"{table}/{part.name}"] = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_demo_tuples_are_pinned(compose_cfg, tmp_path, name):
    overrides, digest = GOLDEN[name]
    run(compose_cfg(overrides), str(tmp_path), progress=False)
    assert content_digest(tmp_path) == digest
