"""Real git repositories in temporary folders: a team's bare remote and clones of it."""

from __future__ import annotations

import base64
import contextlib
import http.server
import socket
import subprocess
import threading
from pathlib import Path

# A person's identity, and no user or system config, so tests behave the same everywhere.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Person",
    "GIT_AUTHOR_EMAIL": "person@example.org",
    "GIT_COMMITTER_NAME": "Person",
    "GIT_COMMITTER_EMAIL": "person@example.org",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "PATH": "/usr/bin:/bin:/usr/local/bin",
}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=GIT_ENV, check=True
    )
    return done.stdout


def clone(remote: Path, where: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(remote), str(where)], check=True, env=GIT_ENV)
    return where


def bare_remote(where: Path, files: dict[str, str]) -> Path:
    """A bare repository on branch main whose first commit holds `files`."""
    subprocess.run(
        ["git", "init", "-q", "--bare", "-b", "main", str(where)], check=True, env=GIT_ENV
    )
    seed = clone(where, where.with_name(where.name + "-seed"))
    git(seed, "checkout", "-q", "-b", "main")
    for name, text in files.items():
        (seed / name).write_text(text, encoding="utf-8")
    git(seed, "add", ".")
    git(seed, "commit", "-q", "-m", "start the list")
    git(seed, "push", "-q", "origin", "main")
    return where


def local_repo(where: Path, files: dict[str, str]) -> Path:
    """A work tree on branch main with no remote, its first commit holding `files`."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(where)], check=True, env=GIT_ENV)
    for name, text in files.items():
        (where / name).write_text(text, encoding="utf-8")
    git(where, "add", "-A")
    git(where, "commit", "-q", "--allow-empty", "-m", "start")
    return where


class SmartHttp:
    """`git http-backend` behind HTTP basic auth on 127.0.0.1: a remote that needs a token.

    Use as a context manager; `url(name)` is the https-like URL of `root / name`.
    """

    def __init__(self, root: Path, user: str, password: str) -> None:
        self.root = root
        self.expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.logins: list[str] = []  # the Authorization headers seen
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.backend()

            def do_POST(self) -> None:
                self.backend()

            def backend(self) -> None:
                auth = self.headers.get("Authorization")
                if auth is not None:
                    server.logins.append(auth)
                if auth != server.expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="papers"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path, _, query = self.path.partition("?")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                env = {
                    **GIT_ENV,
                    "GIT_PROJECT_ROOT": str(server.root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "REQUEST_METHOD": self.command,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "REMOTE_USER": "paperbot",
                    "REMOTE_ADDR": "127.0.0.1",
                }
                for header, var in (
                    ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
                    ("Git-Protocol", "GIT_PROTOCOL"),
                ):
                    if self.headers.get(header):
                        env[var] = self.headers[header]
                done = subprocess.run(
                    ["git", "http-backend"], input=body, capture_output=True, env=env, check=False
                )
                head, _, payload = done.stdout.partition(b"\r\n\r\n")
                status = 200
                headers = []
                for line in head.decode().split("\r\n"):
                    name, _, value = line.partition(": ")
                    if name.lower() == "status":
                        status = int(value.split()[0])
                    elif name:
                        headers.append((name, value))
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def __enter__(self) -> SmartHttp:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


class SilentServer:
    """A TCP port on 127.0.0.1 that accepts connections and never answers: a hung remote.

    `connected` is set once a client has connected (so a test knows git is waiting on it).
    """

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)  # the kernel completes the handshakes; nobody ever reads
        self.connected = threading.Event()
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            self.held.append(conn)  # kept open, never read from or written to
            self.connected.set()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/{name}"

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        for conn in self.held:
            conn.close()
        self.thread.join(5)
