"""Real local servers that tests start and stop: HTTP(S) with a slow path, plain TCP, self-signed certificates."""

from __future__ import annotations

import http.server
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hopnhat.continuity.netguard import AllowList

# The servers below listen on loopback, which probes reach only when the allow-list names it.
LOOPBACK_NETWORKS = "127.0.0.0/8,::1/128"
LOOPBACK = AllowList.parse(LOOPBACK_NETWORKS)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Host", "")))
        if self.path.startswith("/redirect"):  # /redirect?to=URL
            return self._redirect(parse_qs(urlsplit(self.path).query).get("to", ["/"])[0])
        if self.path.startswith("/loop"):
            return self._redirect("/loop")
        if self.path.startswith("/slow"):
            time.sleep(0.4)
        status = 500 if self.path.startswith("/broken") else 200
        body = "hopnhat OK" if status == 200 else "oops"
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str) -> None:
        super().__init__((host, 0), _Handler)
        self.seen: list[tuple[str, str]] = []  # (path, Host header) of every request, in order


class HttpServer:
    """An HTTP (or HTTPS with ``cert``) server on a free port of ``host``; ``stop()`` makes the port refuse.

    ``seen`` lists the (path, Host header) of every request it answered, so a test can assert it was never asked."""

    def __init__(self, cert: tuple[Path, Path] | None = None, host: str = "127.0.0.1") -> None:
        self.server = _Server(host)
        scheme = "http"
        if cert is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(cert[0]), str(cert[1]))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.port = self.server.server_address[1]
        self.url = f"{scheme}://{host}:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def seen(self) -> list[tuple[str, str]]:
        return self.server.seen

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class TcpServer:
    def __init__(self, port: int = 0) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.target = f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.sock.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def self_signed(directory: Path, days: int) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 valid for ``days`` days, made with the openssl CLI."""
    cert, key = directory / f"cert{days}.pem", directory / f"key{days}.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            str(days),
            "-subj",
            "/CN=127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key
