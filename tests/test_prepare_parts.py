"""prepare over a release-shaped gnomAD file: cut into parts at the index's record starts, in parallel,
resumable, from a URL served on the loopback address."""

import gzip
import logging
import os
import signal
import subprocess
import sys
import time

import pytest

import genolewm.logs
import genolewm.prepare
import genolewm.remote
from genolewm.bgzf import BgzfText, cut, read_tbi
from genolewm.errors import InputError
from genolewm.prepare import allele_filter, prepare_vcf
from genolewm.remote import RangeReader

from servers import RangeServer, publish

JOINT = {"af_field": "AF_joint", "min_af": 0.01, "pass_only": True, "max_allele_len": 16}
PART_MB = 0.05  # ~15 parts of the fixture's 750 KB


def body(path: str) -> bytes:
    with gzip.open(path, "rb") as f:
        return b"".join(line for line in f if not line.startswith(b"#"))


def text_of(path: str) -> bytes:
    with gzip.open(path, "rb") as f:
        return f.read()


def without_timing(report: dict) -> dict:
    return {k: v for k, v in report.items() if k not in ("elapsed_s", "output")}


def test_parts_cover_every_record_once_whatever_the_cut(releases_dir):
    path = releases_dir["joint"]
    with open(path + ".tbi", "rb") as f:
        starts = read_tbi(f.read(), path + ".tbi")
    whole = body(path)
    assert len(starts.starts) >= 12
    for part_bytes in (1, 20_000, 100_000, 1 << 30):
        parts = cut(starts, part_bytes)
        texts = []
        for begin, end in parts:
            with RangeReader(path, begin >> 16) as reader:
                texts.append(b"".join(BgzfText(reader, begin, end, path).lines()))
        assert b"".join(texts) == whole, part_bytes
        assert all(t.endswith(b"\n") for t in texts)
    assert any(b & 0xFFFF for b, _ in cut(starts, 1)), "some parts start inside a block"
    # A part that begins and ends inside one block.
    begin = starts.starts[0]
    with RangeReader(path, begin >> 16) as reader:
        block = b"".join(BgzfText(reader, begin, begin + 0xFFFF - (begin & 0xFFFF), path).lines())
    end = begin + block.index(b"\n", 100) + 1
    with RangeReader(path, begin >> 16) as reader:
        assert b"".join(BgzfText(reader, begin, end, path).lines()) == whole[: end - begin]


@pytest.fixture(scope="module")
def one_worker(releases_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "gnomad.prepared.vcf.gz"
    report = prepare_vcf(releases_dir["joint"], str(out), allele_filter(JOINT), part_mb=PART_MB)
    return str(out), report


def test_output_is_the_same_bytes_for_any_number_of_workers(releases_dir, one_worker, tmp_path):
    out1, report1 = one_worker
    assert report1["parts"] > 10 and report1["alleles_kept"] > 0
    for workers in (2, 3):
        out = tmp_path / f"w{workers}.vcf.gz"
        report = prepare_vcf(releases_dir["joint"], str(out), allele_filter(JOINT), part_mb=PART_MB, workers=workers)
        assert out.read_bytes() == open(out1, "rb").read(), workers
        assert without_timing(report) == without_timing(report1)
    # An input without an index is one part: the same records.
    plain = tmp_path / "plain.vcf.gz"
    os.link(releases_dir["joint"], plain)
    report = prepare_vcf(str(plain), str(tmp_path / "p.vcf.gz"), allele_filter(JOINT))
    assert report["parts"] == 1 and text_of(str(tmp_path / "p.vcf.gz")) == text_of(out1)
    assert {k: report[k] for k in ("records_read", "alleles_kept", "dropped")} == \
        {k: report1[k] for k in ("records_read", "alleles_kept", "dropped")}
    assert not list(tmp_path.glob("prepare-*")), "the work directory is removed once the output is whole"


def test_a_failed_prepare_resumes_from_its_finished_parts(releases_dir, one_worker, tmp_path, monkeypatch, caplog):
    out = tmp_path / "gnomad.prepared.vcf.gz"
    real, done = genolewm.prepare._prepare_part, []

    def dies_after_three(job, part, report):
        if len(done) == 3:
            raise KeyboardInterrupt
        real(job, part, report)
        done.append(part.index)

    monkeypatch.setattr(genolewm.prepare, "_prepare_part", dies_after_three)
    with pytest.raises(KeyboardInterrupt):
        prepare_vcf(releases_dir["joint"], str(out), allele_filter(JOINT), part_mb=PART_MB)
    assert not out.exists() and not list(tmp_path.glob("*.partial*"))
    again = []
    monkeypatch.setattr(genolewm.prepare, "_prepare_part", lambda j, p, r: (again.append(p.index), real(j, p, r)))
    with caplog.at_level(logging.INFO, logger="genolewm.prepare"):
        report = prepare_vcf(releases_dir["joint"], str(out), allele_filter(JOINT), part_mb=PART_MB)
    assert set(again).isdisjoint(done) and len(again) + 3 == report["parts"]
    assert f"3 of {report['parts']} parts already done" in caplog.text
    assert out.read_bytes() == open(one_worker[0], "rb").read()


def test_a_killed_prepare_command_resumes_and_never_publishes_a_partial_output(releases_dir, one_worker, tmp_path):
    out = tmp_path / "gnomad.prepared.vcf.gz"
    command = [sys.executable, "-m", "genolewm.prepare", "source=gnomad", "providers=gnomad_v4_joint",
               f"input={releases_dir['joint']}", f"output={out}", "part_mb=0.005", f"work_dir={tmp_path / 'work'}",
               f"hydra.run.dir={tmp_path / 'run'}"]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list((tmp_path / "work").glob("*/part-*.json")) and time.monotonic() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    finished = len(list((tmp_path / "work").glob("*/part-*.json")))
    assert finished >= 1 and not out.exists()
    # Resumed with two workers: the parts do not depend on how many.
    second = subprocess.run([*command, "workers=2"], capture_output=True, text=True)
    assert second.returncode == 0 and "Traceback" not in second.stderr, second.stderr
    log = (tmp_path / "run" / "prepare.log").read_text()
    assert "parts already done" in log
    assert text_of(str(out)) == text_of(one_worker[0])


def test_progress_is_logged_off_a_terminal(releases_dir, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(genolewm.logs, "PROGRESS_EVERY_S", 0.0)
    with caplog.at_level(logging.INFO, logger="genolewm.prepare"):
        prepare_vcf(releases_dir["joint"], str(tmp_path / "o.vcf.gz"), allele_filter(JOINT), part_mb=PART_MB,
                    workers=2, show_progress=True)
    lines = [m for m in caplog.messages if m.startswith("prepare: ")]
    assert lines and "MB/s" in lines[-1] and "records/s" in lines[-1] and "s left" in lines[-1]


def test_a_url_is_read_through_htslib_and_known_by_its_identity(releases_dir, one_worker, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # htslib must not leave a downloaded index here
    (tmp_path / "served").mkdir()
    with RangeServer(tmp_path / "served", drop="gnomad.joint.v4.1.sites.vcf.bgz", drops=2, drop_after=30_000) as server:
        (url,) = publish(server, releases_dir["joint"])
        out = tmp_path / "remote.vcf.gz"
        report = prepare_vcf(url, str(out), allele_filter(JOINT), part_mb=PART_MB, workers=2)
    assert out.read_bytes() == open(one_worker[0], "rb").read()
    identity = report["input"]
    assert identity["url"] == url and identity["size"] == os.path.getsize(releases_dir["joint"])
    assert identity["etag"].startswith('"') and identity["last_modified"].endswith("GMT")
    assert identity["index"]["path"] == url + ".tbi" and len(identity["index"]["sha256"]) == 64
    assert sorted(p.name for p in tmp_path.iterdir()) == ["remote.vcf.gz", "remote.vcf.gz.tbi", "served"]


def test_a_connection_that_keeps_dropping_is_one_error_naming_the_url_and_offset(releases_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(genolewm.remote, "RETRY_DELAYS_S", (0.0, 0.0))
    (tmp_path / "served").mkdir()
    with RangeServer(tmp_path / "served", drop="gnomad.joint.v4.1.sites.vcf.bgz", drops=10_000, drop_after=0,
                     drop_from=1) as server:
        (url,) = publish(server, releases_dir["joint"])
        with pytest.raises(InputError) as error:
            prepare_vcf(url, str(tmp_path / "o.vcf.gz"), allele_filter(JOINT), part_mb=PART_MB)
    message = str(error.value)
    assert message.startswith(f"{url}: reading failed at byte ") and "rerun the same command to resume" in message
    assert "\n" not in message and not (tmp_path / "o.vcf.gz").exists()


def test_a_url_without_an_index_or_a_missing_url_is_one_line(releases_dir, tmp_path):
    (tmp_path / "served").mkdir()
    plain = tmp_path / "served" / "plain.vcf.gz"
    os.link(releases_dir["joint"], plain)
    with RangeServer(tmp_path / "served") as server:
        with pytest.raises(InputError, match=r"has no tabix index beside it"):
            prepare_vcf(f"{server.url}/plain.vcf.gz", str(tmp_path / "o.vcf.gz"), allele_filter(JOINT))
        with pytest.raises(InputError, match=r"not found"):
            prepare_vcf(f"{server.url}/missing.vcf.gz", str(tmp_path / "o.vcf.gz"), allele_filter(JOINT))


def test_prepare_cli_rejects_bad_workers(releases_dir, tmp_path):
    result = subprocess.run([sys.executable, "-m", "genolewm.prepare", f"input={releases_dir['joint']}", "workers=0",
                             "providers=gnomad_v4_joint", f"hydra.run.dir={tmp_path}"], capture_output=True, text=True)
    assert result.returncode != 0 and "workers=0: must be a whole number >= 1" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_s3_url_is_read_from_an_s3_endpoint(releases_dir, one_worker, tmp_path, monkeypatch):
    from servers import S3Server

    with S3Server("gnomad-public-us-east-1") as s3:
        for key, value in s3.env.items():
            monkeypatch.setenv(key, value)
        url = s3.put(releases_dir["joint"], "release/4.1/vcf/joint/gnomad.joint.v4.1.sites.vcf.bgz")
        report = prepare_vcf(url, str(tmp_path / "s3.vcf.gz"), allele_filter(JOINT), part_mb=PART_MB, workers=2)
    assert (tmp_path / "s3.vcf.gz").read_bytes() == open(one_worker[0], "rb").read()
    assert report["input"]["url"] == url and report["input"]["size"] == os.path.getsize(releases_dir["joint"])
    assert report["input"]["etag"] and report["input"]["index"]["path"] == url + ".tbi"


@pytest.mark.parametrize("url, address", [
    ("gs://gcp-public-data--gnomad/release/4.1/vcf/joint/x.vcf.bgz",
     "https://storage.googleapis.com/gcp-public-data--gnomad/release/4.1/vcf/joint/x.vcf.bgz"),
    ("s3://gnomad-public-us-east-1/release/4.1/x.vcf.bgz",
     "https://gnomad-public-us-east-1.s3.amazonaws.com/release/4.1/x.vcf.bgz"),
    ("https://example.org/x.vcf.bgz", "https://example.org/x.vcf.bgz"),
])
def test_object_store_urls_are_described_at_their_https_address(url, address, monkeypatch):
    monkeypatch.delenv("HTS_S3_HOST", raising=False)
    assert genolewm.remote.is_url(url) and genolewm.remote.http_address(url) == address


def test_an_index_kept_elsewhere_is_named_with_index(releases_dir, one_worker, tmp_path):
    (tmp_path / "served").mkdir()
    os.link(releases_dir["joint"], tmp_path / "served" / "joint.vcf.bgz")  # no .tbi beside it
    with RangeServer(tmp_path / "served") as server:
        url = f"{server.url}/joint.vcf.bgz"
        report = prepare_vcf(url, str(tmp_path / "o.vcf.gz"), allele_filter(JOINT), part_mb=PART_MB,
                             index=releases_dir["joint"] + ".tbi")
    assert report["parts"] > 10 and report["input"]["index"]["path"] == releases_dir["joint"] + ".tbi"
    assert (tmp_path / "o.vcf.gz").read_bytes() == open(one_worker[0], "rb").read()


def test_a_private_bucket_is_read_with_credentials_and_known_by_its_index(releases_dir, one_worker, tmp_path,
                                                                          monkeypatch, caplog):
    from servers import S3Server

    with S3Server("private-bucket") as s3:
        for key, value in s3.env.items():
            monkeypatch.setenv(key, value)
        for suffix in ("", ".tbi"):  # no public-read: only signed requests (htslib's) get through
            s3.client.upload_file(releases_dir["joint"] + suffix, "private-bucket", "joint.vcf.bgz" + suffix)
        with caplog.at_level(logging.WARNING, logger="genolewm.remote"):
            report = prepare_vcf("s3+http://private-bucket/joint.vcf.bgz", str(tmp_path / "o.vcf.gz"),
                                 allele_filter(JOINT), part_mb=PART_MB)
    assert (tmp_path / "o.vcf.gz").read_bytes() == open(one_worker[0], "rb").read()
    assert report["input"]["size"] is None and len(report["input"]["index"]["sha256"]) == 64
    assert [m for m in caplog.messages if "HEAD refused" in m] == \
        ["s3+http://private-bucket/joint.vcf.bgz: HEAD refused (HTTP 403); its size, ETag and Last-Modified are not "
         "recorded, its index's sha256 stands for its content"]
