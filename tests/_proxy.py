"""A real HTTP proxy for the tests: tinyproxy (Debian's package; `.ci/run`
installs it where it is missing), started on 127.0.0.1 with its own config
and log file. The log is the proof that a request went through it: each
request it handles is logged as ``Request (file descriptor N): GET
http://127.0.0.1:PORT/path HTTP/1.1`` or ``... CONNECT 127.0.0.1:PORT HTTP/1.1``.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

#: Why the proxy tests skip, or None when tinyproxy is there.
TINYPROXY = shutil.which("tinyproxy") or next(
    (p for p in ("/usr/bin/tinyproxy", "/usr/sbin/tinyproxy") if Path(p).is_file()), None
)
MISSING = (
    "tinyproxy is not installed (Debian: apt-get install tinyproxy; .ci/run installs it "
    "where it can): the tests through a real HTTP proxy are skipped"
)
REQUEST = re.compile(r"Request \(file descriptor \d+\): (\S+ \S+) HTTP/1\.[01]")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def closed_port() -> int:
    """A local port nothing listens on (a dead proxy)."""
    return free_port()


class Tinyproxy:
    """``with Tinyproxy(tmp_path) as p: ... p.url ... p.requests()``."""

    def __init__(self, workdir: Path, *, user: str | None = None, password: str | None = None):
        if TINYPROXY is None:
            pytest.skip(MISSING)
        self.dir = workdir
        self.user, self.password = user, password
        self.log_path = workdir / "tinyproxy.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The proxy's URL, with its credentials when it asks for some."""
        auth = f"{self.user}:{self.password}@" if self.user else ""
        return f"http://{auth}127.0.0.1:{self.port}"

    @property
    def bare_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Tinyproxy:
        assert TINYPROXY is not None
        for _ in range(5):  # another process may take the port first
            self.port = free_port()
            conf = self.dir / "tinyproxy.conf"
            lines = [
                f"Port {self.port}",
                "Listen 127.0.0.1",
                "Timeout 30",
                f'LogFile "{self.log_path}"',
                "LogLevel Info",
                "MaxClients 64",
                "Allow 127.0.0.1",
            ]
            if self.user:
                lines.append(f"BasicAuth {self.user} {self.password}")
            conf.write_text("\n".join(lines) + "\n")
            self.proc = subprocess.Popen(
                [TINYPROXY, "-d", "-c", str(conf)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return self
                except OSError:
                    time.sleep(0.02)
            self._stop()
        raise RuntimeError(f"tinyproxy did not start; its log:\n{self.log()}")

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def requests(self) -> list[str]:
        """Every request the proxy handled, as ``"GET http://..."`` or
        ``"CONNECT host:port"``, in order."""
        return REQUEST.findall(self.log())

    def paths(self) -> list[str]:
        """The paths of the plain-HTTP requests it forwarded."""
        out = []
        for r in self.requests():
            method, target = r.split(" ", 1)
            if method != "CONNECT":
                out.append(re.sub(r"^http://[^/]+", "", target).split("?", 1)[0])
        return out
