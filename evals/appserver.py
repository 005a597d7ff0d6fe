"""Start `python app.py` on a free port of 127.0.0.1 and wait until it serves (benchmarks, load test, tests)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float, alive: subprocess.Popen[bytes] | None = None) -> bool:
    """True once something listens on 127.0.0.1:port; False on timeout or if `alive` exits first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if alive is not None and alive.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.5)
    return False


@contextlib.contextmanager
def serving_app(
    env_extra: dict[str, str] | None = None, log: IO[bytes] | IO[str] | int = subprocess.DEVNULL, timeout: float = 180
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """The app in a subprocess with the given environment; yields (process, URL) and stops it afterwards."""
    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), **(env_extra or {}))
    proc = subprocess.Popen([sys.executable, str(REPO / "app.py")], cwd=REPO, env=env, stdout=log, stderr=log)
    try:
        if not wait_for_port(port, timeout, proc):
            raise RuntimeError(f"l'app non si è avviata entro {timeout:.0f} s")
        yield proc, f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
