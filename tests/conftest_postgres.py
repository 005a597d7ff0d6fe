"""A real PostgreSQL server for the tests marked `postgres`: the one `.ci/run` started, or a throwaway one.

`LC_TEST_DATABASE_URL` (e.g. `postgresql+psycopg://lc@127.0.0.1:5433/lc_test`) names a running server. Without
it, the session starts its own from the Debian packages (installed with apt-get when missing and root):
initdb in a temporary folder, run as the `postgres` user when the tests run as root, on a free port of
127.0.0.1, stopped at the end. Import the fixtures into a test module: `from conftest_postgres import ...`.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.appserver import free_port

ENV = "LC_TEST_DATABASE_URL"
TABLES = ("curated_revisions", "curated_answers", "schema_version")


def _bin_dir() -> Path:
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
        pytest.fail(f"PostgreSQL non è installato: imposta {ENV} oppure installa il pacchetto Debian postgresql.")
    return Path(found[-1]).parent


def _as_owner(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the `postgres` user."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a server's database that the tests may freely write to."""
    url = os.environ.get(ENV)
    if url:
        yield url
        return
    bindir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="lc-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    os.chmod(root, 0o700)
    port = free_port()
    run = {"check": True, "capture_output": True, "timeout": 120}
    try:
        subprocess.run(
            _as_owner([str(bindir / "initdb"), "-D", str(data), "-U", "lc", "--auth=trust", "-E", "UTF8", "--no-sync"]),
            **run,
        )  # type: ignore[call-overload]
        subprocess.run(
            _as_owner(
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
        subprocess.run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "lc", "lc_test"], **run)  # type: ignore[call-overload]
        yield f"postgresql+psycopg://lc@127.0.0.1:{port}/lc_test"
    except subprocess.CalledProcessError as exc:
        log = (root / "server.log").read_text(errors="replace") if (root / "server.log").exists() else ""
        pytest.fail(f"Il server PostgreSQL di prova non si è avviato: {exc.stderr!r} {log[-500:]}")
    finally:
        subprocess.run(
            _as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


def reset_postgres(url: str) -> str:
    """Drop the curated tables, so that each test starts from an empty database."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS " + ", ".join(TABLES) + " CASCADE"))
    engine.dispose()
    return url
