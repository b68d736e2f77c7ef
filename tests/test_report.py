"""report.html: every number from the shard files and the manifest, every figure a real PNG."""

import html
import json
import re
import struct
from collections import Counter

import pyarrow.parquet as pq
import pytest

from genolewm.build import run
from genolewm.report import POSITION_BINS, write_report


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    from conftest import composed

    path = tmp_path_factory.mktemp("report")
    manifest = run(composed(["holdout=rfc", "mix=multi", "report=true"]), str(path), progress=False)
    return path, manifest


def page_data(page):
    text = page.read_text()
    data = re.search(r'<script type="application/json" id="report-data">(.*)</script>', text, re.S).group(1)
    return text, json.loads(data.replace("<\\/", "</"))


def assert_png(path):
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    assert width > 100 and height > 100 and path.stat().st_size > 2000


def test_numbers_come_from_the_files_and_the_manifest(reported):
    path, manifest = reported
    text, data = page_data(path / "report.html")
    edits = [(t["requested_source"], e) for t in pq.read_table(path / "tuples").to_pylist() for e in t["edits"]]
    assert data["served"] == dict(Counter(f"{r} -> {e['source']}" for r, e in edits))
    assert data["edit_types"] == dict(Counter(e["edit_type"] for _, e in edits))
    assert sum(data["positions"]) == len(edits) and len(data["positions"]) == POSITION_BINS
    inside = [n for i, n in enumerate(data["positions"]) if 0 < i < POSITION_BINS - 1]
    assert min(inside) > 0  # uniform between the margins: no empty bin inside them
    indels = Counter((e["source"], str(abs(len(e["alt"]) - len(e["ref"])))) for _, e in edits
                     if e["edit_type"] in ("INS", "DEL"))
    assert {(s, k): n for s, lengths in data["indel_lengths"].items() for k, n in lengths.items()} == dict(indels)
    assert sum(sum(bins) for bins in data["af"].values()) == sum(e["af"] is not None for _, e in edits)
    assert data["clnsig"] == dict(Counter(term for _, e in edits for term in e["clnsig"] or ()))
    assert data["skipped"] == manifest["variants_skipped"] and data["windows_by_chrom"] == manifest["windows_by_chrom"]
    assert data["counts"]["tuples"] == manifest["tuples"]
    assert sum(data["tuples_by_chrom"].values()) == manifest["tuples"]["total"]
    assert data["windows_by_chrom"]["chr21"]["excluded_by_holdout"] > 0  # holdout=rfc holds chr21 out
    for key, n in data["served"].items():  # the tables show the same numbers
        assert f"<td>{html.escape(key)}</td><td>{n}</td>" in text


def test_every_figure_is_a_png(reported):
    path, _ = reported
    text, _ = page_data(path / "report.html")
    images = re.findall(r"<img src='([^']+)'", text)
    assert len(images) == 6
    for image in images:
        assert_png(path / image)


def test_sweep_report(reported, tmp_path):
    import shutil

    for job in ("0", "1"):
        shutil.copytree(reported[0], tmp_path / job)
    (tmp_path / "2").mkdir()  # a job that failed: no manifest
    text, data = page_data(write_report(tmp_path))
    assert sorted(data) == ["0", "1"] and data["0"]["served"] == data["1"]["served"]
    assert "<h2>Every job</h2>" in text and text.count("<h2>job ") == 2
    for image in re.findall(r"<img src='([^']+)'", text):
        assert_png(tmp_path / image)
    assert len(re.findall(r"<img src='([^']+)'", text)) == 12


@pytest.mark.slow
def test_report_command(reported, tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "genolewm.report", str(reported[0])], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"genolewm.report: {reported[0] / 'report.html'}"
    missing = subprocess.run([sys.executable, "-m", "genolewm.report", str(tmp_path / "nope")],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and missing.stderr.strip() == (
        f"genolewm.report: error: {tmp_path / 'nope'}: no such run or sweep directory")
