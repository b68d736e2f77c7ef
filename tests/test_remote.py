"""A build whose reference, gnomAD and ClinVar are URLs: read through htslib from a loopback server,
known in the manifest by URL, size, ETag and index sha256, audited against the server."""

import json
import os
import shutil

import pytest

from genolewm.audit import AuditError, audit_run
from genolewm.build import run
from genolewm.demo import DEMO_DIR

from servers import RangeServer, publish

LOCAL = {"reference": DEMO_DIR / "ref.fa", "gnomad": DEMO_DIR / "gnomad.vcf.gz", "clinvar": DEMO_DIR / "clinvar.vcf.gz"}


def test_a_build_from_urls_equals_the_build_from_files_and_audits(compose_cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("GENOLEWM_CACHE", str(tmp_path / "cache"))
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)  # htslib must not leave downloaded indexes here
    served = tmp_path / "served"
    served.mkdir()
    local = tmp_path / "local"
    run(compose_cfg(["holdout=rfc", "mix=multi"]), str(local), progress=False)
    with RangeServer(served) as server:
        urls = dict(zip(LOCAL, publish(server, *map(str, LOCAL.values()))))
        remote = tmp_path / "remote"
        manifest = run(compose_cfg(["holdout=rfc", "mix=multi", *(f"paths.{k}={u}" for k, u in urls.items())]),
                       str(remote), progress=False)
        assert audit_run(remote)["tuples"] == manifest["tuples"]["total"] > 0
        # The data is the same; only the inputs' descriptions differ.
        for table in ("windows", "tuples"):
            parts = sorted(p.name for p in (local / table).iterdir())
            assert parts and all((local / table / p).read_bytes() == (remote / table / p).read_bytes() for p in parts)
        inputs = {item["path"]: item for item in manifest["inputs"]}
        for key, url in urls.items():
            assert inputs[url]["size"] == os.path.getsize(LOCAL[key]) and inputs[url]["sha256"] is None
            assert inputs[url]["etag"] and inputs[url]["last_modified"]
        assert len(inputs[urls["gnomad"] + ".tbi"]["sha256"]) == 64 and len(inputs[urls["reference"] + ".fai"]["sha256"]) == 64
        assert list(work.iterdir()) == []
        assert json.loads((remote / "manifest.json").read_text())["data_sha256"] != \
            json.loads((local / "manifest.json").read_text())["data_sha256"]

        # The server now serves another file under the ClinVar URL: the audit names it.
        clinvar = served / "clinvar.vcf.gz"
        clinvar.unlink()
        shutil.copyfile(LOCAL["gnomad"], clinvar)
        with pytest.raises(AuditError, match=r"inputs: .*clinvar.vcf.gz changed since the build \(size"):
            audit_run(remote)


def test_a_release_file_with_heavy_info_is_read_from_its_url(compose_cfg, releases_dir, tmp_path, monkeypatch):
    from conftest import release_paths

    monkeypatch.setenv("GENOLEWM_CACHE", str(tmp_path / "cache"))
    (tmp_path / "served").mkdir()
    overrides = ["providers=gnomad_v4_joint", *release_paths(releases_dir)]
    run(compose_cfg(overrides), str(tmp_path / "local"), progress=False)
    with RangeServer(tmp_path / "served") as server:
        (url,) = publish(server, releases_dir["joint"])
        run(compose_cfg([*overrides, f"paths.gnomad={url}"]), str(tmp_path / "remote"), progress=False)
    parts = sorted((tmp_path / "local" / "tuples").iterdir())
    assert parts and all(p.read_bytes() == (tmp_path / "remote" / "tuples" / p.name).read_bytes() for p in parts)
