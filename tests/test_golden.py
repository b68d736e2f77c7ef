"""The tuples of the shipped configs on the demo data, pinned: a change to any draw, order or field fails here.

The digests were taken before the extension-point redesign (issue 9) and hold after it. Each is the
sha256 of ``{"<table>/part-k.parquet": sha256 of the shard's rows as sorted-key JSON}``, so it does not
depend on the Parquet writer's version. Change one only on purpose, and say why in ``schema_version``.
"""

import hashlib
import json

import pyarrow.parquet as pq
import pytest

from genolewm.build import run

GOLDEN = {
    "default_chr8": (["holdout=chr8"], "396625dde894257570f384756d778664171bd822ad5087bba1357578ce246de0"),
    "multi_pad_n": (["mix=multi", "target.pad=N"], "241e66db2a5dd31c6513b4d5eaf60064cd786a6fa6920383a26ea5b27f216566"),
    "realism_rfc": (["mix=realism", "holdout=rfc"], "314148fa26e7a8462dfb0acecfbdd116ecf0873816e0c866c9d0a87665ba45d2"),
    "val_rfc": (["holdout=rfc", "split=val"], "8882ba0625ca3f7a86622679a5c6e7d916bf5e361a5fa00a8638d2e82a95487e"),
    "corpus_pretrain": (["experiment=corpus_pretrain"],
                        "33700209f30b99ed14b8fc8ea8036f558c36c625c2017dad974a9c0eda9a02ec"),
    "nostore_seed3": (["seed=3", "output.store_targets=false", "output.windows_per_shard=7"],
                      "800bbf5bdde7aed6509479384ee8e31a9cfd723c477d3406afadf90766d18efe"),
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
