"""An HTTP file server on the loopback address that serves byte ranges, as object stores do.

It answers GET and HEAD with ``Accept-Ranges``, ``ETag`` and ``Last-Modified``,
honours ``Range: bytes=a-b`` (206) and can drop connections part-way: the next
``drops`` responses for the file named ``drop`` from byte ``drop_from`` on end
after ``drop_after`` bytes of body with the full ``Content-Length`` announced
(what a reset connection looks like to a client). ``gets`` counts the GETs.

It runs in a forked process: htslib holds the interpreter lock while it
opens a URL, so a server thread in the reading process would never answer.
`S3Server` is an S3 endpoint for the same purpose.
"""

from __future__ import annotations

import email.utils
import hashlib
import os
import re
import multiprocessing
import socket
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RANGE = re.compile(r"bytes=(\d+)-(\d*)$")
FORK = multiprocessing.get_context("fork")


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:  # clients hang up mid-body: not news
        pass


class RangeServer:
    """Serves the files under ``root`` at ``self.url``; use as a context manager."""

    def __init__(self, root: Path, drop: str = "", drops: int = 0, drop_after: int = 100_000,
                 drop_from: int = 0) -> None:
        self.root, self.drop, self.drop_after, self.drop_from = Path(root), drop, drop_after, drop_from
        self.drops = FORK.Value("i", drops)
        self.gets = FORK.Value("i", 0)
        self.httpd = _QuietServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.process = FORK.Process(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "RangeServer":
        self.process.start()
        self.httpd.server_close()  # the child has the listening socket
        return self

    def __exit__(self, *exc) -> None:
        self.process.kill()
        self.process.join()


def _handler(server: RangeServer) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet in test output
            pass

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _empty(self, status: int, **headers: str) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k.replace("_", "-"), v)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _serve(self, body: bool) -> None:
            name = self.path.lstrip("/").split("?")[0]
            path = server.root / name
            if not path.is_file():
                return self._empty(404)
            stat = path.stat()
            size = stat.st_size
            start, end, status = 0, size - 1, 200
            asked = self.headers.get("Range")
            if asked:
                m = RANGE.match(asked)
                if not m or int(m.group(1)) >= size:
                    return self._empty(416, Content_Range=f"bytes */{size}")
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
                status = 206
            self.send_response(status)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start + 1))
            tag = hashlib.md5(f"{name}:{stat.st_mtime_ns}:{size}".encode()).hexdigest()
            self.send_header("ETag", f'"{tag}"')
            self.send_header("Last-Modified", email.utils.formatdate(stat.st_mtime, usegmt=True))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if not body:
                return
            with server.gets.get_lock():
                server.gets.value += 1
            left = end - start + 1
            cut = False
            if name == server.drop and start >= server.drop_from:
                with server.drops.get_lock():
                    cut = server.drops.value > 0
                    server.drops.value -= cut
            if cut:
                left = min(left, server.drop_after)
            with open(path, "rb") as f:
                f.seek(start)
                while left:
                    chunk = f.read(min(left, 1 << 16))
                    self.wfile.write(chunk)
                    left -= len(chunk)
            if cut:
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

    return Handler


def publish(server: RangeServer, *paths: str) -> list[str]:
    """Hard-link (or copy) ``paths`` and the index files beside them under the server's root; their URLs."""
    urls = []
    for path in paths:
        for candidate in (path, path + ".tbi", path + ".fai", path + ".gzi", path + ".csi"):
            if os.path.exists(candidate):
                target = server.root / os.path.basename(candidate)
                if not target.exists():
                    os.link(candidate, target)
        urls.append(f"{server.url}/{os.path.basename(path)}")
    return urls


class S3Server:
    """An S3 endpoint on the loopback address (moto's server, in its own process) holding one public
    bucket, reached by htslib through ``HTS_S3_HOST``; use as a context manager."""

    def __init__(self, bucket: str) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.bucket, self.endpoint = bucket, f"http://127.0.0.1:{self.port}"
        self.env = {"HTS_S3_HOST": f"127.0.0.1:{self.port}", "HTS_S3_ADDRESS_STYLE": "path",
                    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_DEFAULT_REGION": "us-east-1"}

    def __enter__(self) -> "S3Server":
        import boto3

        self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.client = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="testing",
                                   aws_secret_access_key="testing", region_name="us-east-1")
        deadline = time.monotonic() + 30
        while True:
            try:
                self.client.create_bucket(Bucket=self.bucket)
                return self
            except Exception:  # noqa: BLE001 - the server is still starting
                if time.monotonic() > deadline:
                    self.process.kill()
                    raise
                time.sleep(0.1)

    def put(self, path: str, key: str) -> str:
        """Upload ``path`` and the index beside it, readable by anyone, as the public buckets are; its URL."""
        for suffix in ("", ".tbi"):
            if os.path.exists(path + suffix):
                self.client.upload_file(path + suffix, self.bucket, key + suffix, ExtraArgs={"ACL": "public-read"})
        return f"s3+http://{self.bucket}/{key}"

    def __exit__(self, *exc) -> None:
        self.process.kill()
        self.process.wait()
