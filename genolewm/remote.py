"""Inputs behind a URL: what identifies them, and reading their bytes through htslib with retries.

htslib (through pysam) opens ``https://``, ``s3://`` and ``gs://`` inputs
itself (its libcurl, S3 and GCS handlers; ``HTS_S3_HOST`` and the other
htslib variables apply), and so do pysam's FASTA, VCF and tabix readers.
A remote file is never downloaded to be hashed: it is known by its URL,
size, ``ETag`` and ``Last-Modified`` from one HEAD request, and by the
sha256 of its index, which is small and read whole.

`RangeReader` reads a byte range through an htslib handle. htslib
reconnects a dropped transfer a few times by itself; when it gives up, the
range is reopened at the byte it stopped at, after a pause, and after
`RETRY_DELAYS_S` the read fails with one line naming the URL and the
byte offset. A transfer that ends early is a failure, never a short read.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from pysam.libchtslib import HFile

from .errors import InputError

log = logging.getLogger(__name__)

URL_SCHEMES = ("http", "https", "ftp", "s3", "s3+http", "s3+https", "gs", "gs+http", "gs+https")
RETRY_DELAYS_S = (0.5, 2.0, 8.0)
READ_BYTES = 1 << 22  # the most asked of htslib at once
INDEX_SUFFIXES = (".tbi", ".csi", ".fai", ".gzi")
_REFUSED: set[str] = set()


def is_url(path: str) -> bool:
    return "://" in path and path.split("://", 1)[0].lower() in URL_SCHEMES


def where(path: str) -> str:
    """A local path made absolute; a URL as it is."""
    return path if is_url(path) else os.path.abspath(path)


def exists(path: str) -> bool:
    """A local file exists, or a URL answers (a URL is checked when it is read)."""
    return is_url(path) or os.path.isfile(path)


def http_address(url: str) -> str:
    """The HTTP(S) address of an object-store URL, where a HEAD request describes it (the htslib
    variables ``HTS_S3_HOST`` and ``HTS_S3_ADDRESS_STYLE`` apply to ``s3://`` as they do in htslib)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme.startswith("s3"):
        secure = "http" if scheme == "s3+http" else "https"
        host = os.environ.get("HTS_S3_HOST")
        if host:
            if os.environ.get("HTS_S3_ADDRESS_STYLE", "auto") == "virtual":
                return f"{secure}://{parts.netloc}.{host}{parts.path}"
            return f"{secure}://{host}/{parts.netloc}{parts.path}"
        return f"{secure}://{parts.netloc}.s3.amazonaws.com{parts.path}"
    if scheme.startswith("gs"):
        secure = "http" if scheme == "gs+http" else "https"
        return f"{secure}://storage.googleapis.com/{parts.netloc}{parts.path}"
    return url


def describe(url: str, warn: bool = True) -> dict:
    """``url``, ``size``, ``etag`` and ``last_modified`` of a remote file from one HEAD request. A store
    that refuses anonymous HEAD requests (a private bucket) leaves all but the URL unknown, which
    ``warn`` says once."""
    address = http_address(url)
    request = urllib.request.Request(address, method="HEAD")
    for delay in (*RETRY_DELAYS_S, None):
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                headers = response.headers
                size = headers.get("Content-Length")
                return {"url": url, "size": int(size) if size is not None else None,
                        "etag": headers.get("ETag"), "last_modified": headers.get("Last-Modified")}
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise InputError(f"{url}: not found (HTTP 404 from {address}); check the URL") from exc
            if exc.code in (401, 403):
                if warn and url not in _REFUSED:  # said once a process: a private bucket refuses every HEAD
                    _REFUSED.add(url)
                    log.warning("%s: HEAD refused (HTTP %d); its size, ETag and Last-Modified are not recorded, "
                                "its index's sha256 stands for its content", url, exc.code)
                return {"url": url, "size": None, "etag": None, "last_modified": None}
            error: Exception = exc
        except (urllib.error.URLError, OSError) as exc:
            error = exc
        if delay is None:
            raise InputError(f"{url}: cannot reach it ({error}) after {len(RETRY_DELAYS_S)} retries; "
                             "check the URL and the network")
        time.sleep(delay)
    raise AssertionError("unreachable")


class RangeReader(io.RawIOBase):
    """Bytes ``[start, end)`` of ``path`` (a local path or a URL) through an htslib handle; ``end`` None
    reads to the end of the file. `read` returns exactly what it is asked for, short only at
    ``end`` or the end of the file."""

    def __init__(self, path: str, start: int = 0, end: int | None = None) -> None:
        super().__init__()
        if end is None:  # htslib's URL handles fail rather than end at the end: stop at the size
            end = describe(path, warn=False)["size"] if is_url(path) else os.path.getsize(path)
        self.path, self.pos, self.end = path, start, end
        self.handle: HFile | None = None

    def _open(self) -> HFile:
        if self.handle is None:
            handle = HFile(self.path, "r")
            try:
                if self.pos:
                    handle.seek(self.pos)
            except BaseException:
                handle.close()
                raise
            self.handle = handle
        return self.handle

    def _drop(self) -> None:
        if self.handle is not None:
            try:
                self.handle.close()
            except OSError:
                pass
            self.handle = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = 1 << 62
        if self.end is not None:
            n = min(n, self.end - self.pos)
        parts, got, tries = [], 0, 0
        while got < n:
            try:
                data = self._open().read(min(n - got, READ_BYTES))
                error = None
            except OSError as exc:
                data, error = b"", exc
            if data:
                parts.append(data)
                got += len(data)
                self.pos += len(data)
                tries = 0
                continue
            self._drop()
            if error is None and self.end is None:
                break  # the end of the file
            if tries == len(RETRY_DELAYS_S):
                reason = error.strerror or error if error else "the transfer ended early"
                raise InputError(f"{self.path}: reading failed at byte {self.pos} ({reason}) after "
                                 f"{tries} retries; rerun the same command to resume")
            log.warning("%s: reading stopped at byte %d; retrying in %.1f s", self.path, self.pos,
                        RETRY_DELAYS_S[tries])
            time.sleep(RETRY_DELAYS_S[tries])
            tries += 1
        return b"".join(parts)

    def close(self) -> None:
        self._drop()
        super().close()


def read_whole(path: str) -> bytes:
    """A small file's bytes (an index), local or remote."""
    with RangeReader(path) as reader:
        return reader.read(1 << 62)


def find_index(path: str, suffixes: tuple[str, ...] = (".tbi", ".csi")) -> tuple[str, bytes] | None:
    """``(path, bytes)`` of the first index beside ``path`` among ``suffixes`` that exists, or None."""
    for suffix in suffixes:
        candidate = path + suffix
        if not is_url(path):
            if os.path.isfile(candidate):
                with open(candidate, "rb") as f:
                    return candidate, f.read()
            continue
        try:
            describe(candidate, warn=False)  # a missing index is a quick 404, not a read retried
        except InputError:
            continue
        return candidate, read_whole(candidate)
    return None


def cache_dir() -> Path:
    """Where indexes of remote files are kept: ``$GENOLEWM_CACHE``, else ``$XDG_CACHE_HOME/genolewm``, else
    ``~/.cache/genolewm``."""
    root = os.environ.get("GENOLEWM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "genolewm")
    return Path(root)


@functools.lru_cache(maxsize=None)
def local_index(path: str, suffixes: tuple[str, ...] = (".tbi", ".csi")) -> str | None:
    """A local copy of the index of ``path`` (the file beside a local path; for a URL, the remote index
    kept in `cache_dir` under its sha256), or None without one. Handing htslib this copy keeps it
    from downloading the index into the working directory."""
    if not is_url(path):
        return next((path + s for s in suffixes if os.path.isfile(path + s)), None)
    found = find_index(path, suffixes)
    if found is None:
        return None
    name, data = found
    sha = hashlib.sha256(data).hexdigest()
    target = cache_dir() / "indexes" / sha / os.path.basename(urlsplit(name).path)
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return str(target)


def with_index(path: str) -> str:
    """``path`` as htslib takes it with its index named (``URL##idx##local copy``) for a URL with an
    index; ``path`` itself otherwise."""
    index = local_index(path) if is_url(path) else None
    return f"{path}##idx##{index}" if index else path


def stamp(path: str) -> dict:
    """What tells one version of a file from another without reading it: a URL's HEAD description, a
    local file's path, size and modification time."""
    if is_url(path):
        return describe(path)
    stat = os.stat(path)
    return {"path": os.path.abspath(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
