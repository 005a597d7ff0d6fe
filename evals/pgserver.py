"""A throwaway PostgreSQL cluster on 127.0.0.1 (initdb in a temporary folder, as the `postgres` user when root),
for the tests marked `postgres` and `make load-cluster`. `LC_TEST_DATABASE_URL` names a running one instead."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from evals.appserver import free_port

ENV = "LC_TEST_DATABASE_URL"


class PostgresMissing(RuntimeError):
    """No PostgreSQL binaries here; the message is Italian."""


def bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "postgresql"],
            check=False,
            capture_output=True,
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
            timeout=600,
        )
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise PostgresMissing(
            f"PostgreSQL non è installato: imposta {ENV} oppure installa il pacchetto Debian postgresql."
        )
    return Path(found[-1]).parent


def as_owner(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the `postgres` user."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@contextlib.contextmanager
def throwaway_postgres(database: str = "lc_test") -> Iterator[str]:
    """A new cluster with one database; yields its SQLAlchemy URL, stops and deletes it afterwards.
    RuntimeError (Italian) when it cannot start."""
    bindir = bin_dir()
    root = Path(tempfile.mkdtemp(prefix="lc-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    os.chmod(root, 0o700)
    port = free_port()
    run = {"check": True, "capture_output": True, "timeout": 120}
    try:
        subprocess.run(
            as_owner([str(bindir / "initdb"), "-D", str(data), "-U", "lc", "--auth=trust", "-E", "UTF8", "--no-sync"]),
            **run,
        )  # type: ignore[call-overload]
        subprocess.run(
            as_owner(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(root / "server.log"),
                    "-w",
                    "-o",
                    f"-p {port} -c listen_addresses=127.0.0.1 -k {root}",
                    "start",
                ]
            ),
            **run,
        )  # type: ignore[call-overload]
        subprocess.run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "lc", database], **run)  # type: ignore[call-overload]
    except subprocess.CalledProcessError as exc:
        log = (root / "server.log").read_text(errors="replace") if (root / "server.log").exists() else ""
        _stop(bindir, data, root)
        raise RuntimeError(f"Il server PostgreSQL di prova non si è avviato: {exc.stderr!r} {log[-500:]}") from None
    try:
        yield f"postgresql+psycopg://lc@127.0.0.1:{port}/{database}"
    finally:
        _stop(bindir, data, root)


def _stop(bindir: Path, data: Path, root: Path) -> None:
    subprocess.run(
        as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]), capture_output=True, timeout=60
    )
    shutil.rmtree(root, ignore_errors=True)
