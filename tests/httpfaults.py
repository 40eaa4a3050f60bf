"""Real HTTP servers on 127.0.0.1 for download tests: scripted faults, and a Google Drive stand-in.

`FaultServer` serves byte bodies with HTTP Range (and If-Range on its ETag) support; each GET of a
path consumes the next
scripted fault (a status, a connection dropped mid-body, a stall). `DriveStandIn` also answers
`CONNECT` as an HTTPS proxy and terminates TLS for the Drive host names with a certificate from a
throw-away CA, so gdown, talking to the real https://drive.google.com URLs, reaches it through
HTTPS_PROXY + REQUESTS_CA_BUNDLE exactly as a client behind a corporate proxy would.
"""
from __future__ import annotations

import hashlib
import html
import re
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Status:
    """Answer with this HTTP status instead of the body."""
    code: int


@dataclass(frozen=True)
class Drop:
    """Send the headers and `after` body bytes, then close the connection."""
    after: int


@dataclass(frozen=True)
class Stall:
    """Send `after` body bytes, then go silent for `seconds` (longer than the client's read timeout)."""
    after: int
    seconds: float


@dataclass
class Served:
    body: bytes
    ranges: bool = True
    faults: deque = field(default_factory=deque)
    headers: dict = field(default_factory=dict)

    @property
    def etag(self) -> str:
        return f'"{hashlib.sha256(self.body).hexdigest()[:16]}"'


@dataclass(frozen=True)
class Seen:
    method: str
    host: str
    path: str
    range: str | None
    if_range: str | None = None


class FaultServer:
    """A threaded HTTP server on 127.0.0.1; use as a context manager."""

    def __init__(self) -> None:
        self.files: dict[str, Served] = {}
        self.seen: list[Seen] = []
        self.errors: list[BaseException] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.httpd.handle_error = self._handle_error
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.errors and exc[0] is None:
            raise AssertionError(f"the test server failed: {self.errors!r}")

    def _handle_error(self, request, client_address) -> None:
        """Clients that hang up on a fault are expected; anything else is kept for the test to see."""
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError, ssl.SSLError)):
            self.errors.append(error)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def serve(self, path: str, body: bytes, *, ranges: bool = True, faults=()) -> str:
        """Serve `body` at `path` (GETs consume `faults` in order); return its URL."""
        self.files[path] = Served(body, ranges, deque(faults))
        return self.base + path

    def requests_for(self, path: str) -> list[Seen]:
        return [s for s in self.seen if urlsplit(s.path).path == path]

    def next_fault(self, served: Served):
        with self._lock:
            return served.faults.popleft() if served.faults else None

    def route(self, h: _Handler) -> None:
        """Answer one GET; subclasses route other hosts first."""
        served = self.files.get(urlsplit(h.path).path)
        if served is None:
            return h.reply(404, b"not found")
        send_body(h, served, self.next_fault(served), self.stopping)


def send_body(h: _Handler, served: Served, fault, stopping: threading.Event) -> None:
    """Send `served.body` (or the part a Range asks for) as `fault` dictates."""
    if isinstance(fault, Status):
        return h.reply(fault.code, f"scripted status {fault.code}".encode())
    body, total = served.body, len(served.body)
    start = 0
    m = re.fullmatch(r"bytes=(\d+)-", h.headers.get("Range") or "")
    status = 200
    extra = {**served.headers, "ETag": served.etag}
    if_range = h.headers.get("If-Range")
    if m and served.ranges and (if_range is None or if_range == served.etag):
        start = int(m[1])
        if start >= total:
            return h.reply(416, b"", {"Content-Range": f"bytes */{total}"})
        status = 206
        extra["Content-Range"] = f"bytes {start}-{total - 1}/{total}"
        extra["Accept-Ranges"] = "bytes"
    chunk = body[start:]
    h.send_response(status)
    h.send_header("Content-Type", extra.pop("Content-Type", "application/octet-stream"))
    h.send_header("Content-Length", str(len(chunk)))
    for k, v in extra.items():
        h.send_header(k, v)
    h.end_headers()
    if isinstance(fault, (Drop, Stall)):
        h.wfile.write(chunk[: fault.after])
        h.wfile.flush()
        if isinstance(fault, Stall):
            stopping.wait(fault.seconds)
        h.close_connection = True
        h.connection.shutdown(socket.SHUT_RDWR)
        return
    h.wfile.write(chunk)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FaultServer

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self.owner.seen.append(Seen("GET", self.headers.get("Host", ""), self.path, self.headers.get("Range"),
                                    self.headers.get("If-Range")))
        try:
            self.owner.route(self)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    def do_CONNECT(self) -> None:
        self.owner.seen.append(Seen("CONNECT", self.path, self.path, None))
        context = getattr(self.owner, "tls_context", None)
        if context is None or self.path.split(":")[0] not in self.owner.tls_hosts:
            return self.reply(403, b"this proxy only knows the Drive stand-in hosts")
        self.send_response(200, "Connection established")
        self.end_headers()
        self.connection = context.wrap_socket(self.connection, server_side=True)
        self.rfile = self.connection.makefile("rb", self.rbufsize)
        self.wfile = socketserver._SocketWriter(self.connection)
        self.close_connection = False  # clients send CONNECT as HTTP/1.0; the tunnel stays open anyway

    def reply(self, status: int, body: bytes, headers: dict | None = None,
              content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


def _handler_for(owner: FaultServer) -> type[_Handler]:
    return type("BoundHandler", (_Handler,), {"owner": owner})


# ---------------------------------------------------------------- Google Drive stand-in

DRIVE_HOSTS = ("drive.google.com", "drive.usercontent.google.com", "docs.google.com")

QUOTA_PAGE = (
    '<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head><body>'
    '<div class="uc-main"><p class="uc-error-caption">Sorry, you can\'t view or download this file at this time.</p>'
    '<p class="uc-error-subcaption">Too many users have viewed or downloaded this file recently. Please try '
    'accessing the file again later. If the file you are trying to access is particularly large or is shared '
    'with many people, it may take up to 24 hours to be able to view or download the file.</p></div></body></html>'
)
SIGN_IN_PAGE = '<!DOCTYPE html><html><head><title>Sign in - Google Accounts</title></head><body>Sign in</body></html>'


@dataclass
class DriveFile:
    served: Served
    name: str
    mode: str  # "confirm" (large file: virus-scan page first), "quota", "denied"
    token: str = field(default_factory=lambda: str(uuid.uuid4()))


class DriveStandIn(FaultServer):
    """Plays Drive's download exchange: uc?id= -> usercontent download -> confirm form -> file."""

    def __init__(self, workdir: Path) -> None:
        super().__init__()
        self.tls_hosts = DRIVE_HOSTS
        self.tls_context, self.ca_bundle = make_tls(workdir, DRIVE_HOSTS)
        self.drive: dict[str, DriveFile] = {}

    @property
    def proxy(self) -> str:
        return self.base

    def add(self, file_id: str, body: bytes, name: str, *, mode: str = "confirm", ranges: bool = True,
            faults=()) -> None:
        served = Served(body, ranges, deque(faults), {"Content-Disposition": f'attachment; filename="{name}"'})
        self.drive[file_id] = DriveFile(served, name, mode)

    def route(self, h: _Handler) -> None:
        host = h.headers.get("Host", "").split(":")[0]
        if host not in DRIVE_HOSTS:
            return super().route(h)
        url = urlsplit(h.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        f = self.drive.get(query.get("id", ""))
        if f is None:
            return h.reply(404, b"<html>Not Found</html>", content_type="text/html")
        if host == "drive.google.com" and url.path == "/uc":
            return h.reply(303, b"", {"Location": f"https://drive.usercontent.google.com/download?id={query['id']}"
                                                   f"&export=download"})
        if host != "drive.usercontent.google.com" or url.path != "/download":
            return h.reply(404, b"<html>Not Found</html>", content_type="text/html")
        if f.mode == "quota":
            return h.reply(200, QUOTA_PAGE.encode(), content_type="text/html; charset=utf-8")
        if f.mode == "denied":
            return h.reply(403, SIGN_IN_PAGE.encode(), content_type="text/html; charset=utf-8")
        if query.get("confirm") != "t" or query.get("uuid") != f.token:
            return h.reply(200, confirm_page(query["id"], f).encode(), content_type="text/html; charset=utf-8")
        send_body(h, f.served, self.next_fault(f.served), self.stopping)

    def file_requests(self) -> list[Seen]:
        """GETs that carried the confirm token, i.e. that asked for file bytes."""
        return [s for s in self.seen if s.method == "GET" and "uuid=" in s.path]


def confirm_page(file_id: str, f: DriveFile) -> str:
    """Drive's "can't scan this file for viruses" page; one line, as Drive sends it."""
    hidden = {"id": file_id, "export": "download", "confirm": "t", "uuid": f.token}
    inputs = "".join(f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in hidden.items())
    return (
        '<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>'
        f'<div class="uc-main"><p class="uc-warning-subcaption">Google Drive can\'t scan this file for viruses. '
        f'<a href="/open?id={file_id}">{html.escape(f.name)}</a> ({len(f.served.body)} bytes) is too large for '
        'Google to scan for viruses. Would you still like to download this file?</p>'
        '<form id="download-form" action="https://drive.usercontent.google.com/download" method="get">'
        f'<input type="submit" id="uc-download-link" class="goog-inline-block jfk-button" value="Download anyway">'
        f'{inputs}</form></div></body></html>'
    )


def make_tls(workdir: Path, hosts) -> tuple[ssl.SSLContext, Path]:
    """A throw-away CA and a server certificate for `hosts`, made with the openssl CLI."""
    workdir.mkdir(parents=True, exist_ok=True)
    ca_key, ca_pem = workdir / "ca.key", workdir / "ca.pem"
    key, csr, pem = workdir / "server.key", workdir / "server.csr", workdir / "server.pem"
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = lambda *args: subprocess.run(["openssl", *args], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", *ec, "-keyout", ca_key, "-out", ca_pem, "-days", "2", "-subj", "/CN=nasbench-store test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-new", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={hosts[0]}",
        "-addext", "subjectAltName=" + ",".join(f"DNS:{h}" for h in hosts))
    ext = workdir / "server.ext"
    ext.write_text("subjectAltName=" + ",".join(f"DNS:{h}" for h in hosts) + "\n"
                   "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=serverAuth\nauthorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n")
    run("x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key, "-CAcreateserial", "-days", "2",
        "-out", pem, "-extfile", ext)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pem, key)
    return context, ca_pem


def isolate_proxies(monkeypatch, https_proxy: str | None = None, ca_bundle: Path | None = None) -> None:
    """Make `requests` ignore the machine's proxy settings, optionally routing HTTPS through ours."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.lower(), raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    if https_proxy:
        monkeypatch.setenv("HTTPS_PROXY", https_proxy)
    if ca_bundle:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_bundle))


def dead_url(path: str = "/gone") -> str:
    """A URL on a 127.0.0.1 port nobody listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
