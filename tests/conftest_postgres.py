"""A real PostgreSQL server for the tests marked `postgres`: the one `.ci/run` started, or a throwaway one.

`LC_TEST_DATABASE_URL` (e.g. `postgresql+psycopg://lc@127.0.0.1:5433/lc_test`) names a running server. Without
it, the session starts its own from the Debian packages (installed with apt-get when missing and root):
initdb in a temporary folder, run as the `postgres` user when the tests run as root, on a free port of
127.0.0.1, stopped at the end. Import the fixtures into a test module: `from conftest_postgres import ...`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from evals.pgserver import ENV, PostgresMissing, throwaway_postgres

TABLES = ("curated_revisions", "curated_answers", "schema_version")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a server's database that the tests may freely write to."""
    url = os.environ.get(ENV)
    if url:
        yield url
        return
    try:
        with throwaway_postgres() as started:
            yield started
    except (PostgresMissing, RuntimeError) as exc:
        pytest.fail(str(exc))


def reset_postgres(url: str) -> str:
    """Drop the curated tables, so that each test starts from an empty database."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS " + ", ".join(TABLES) + " CASCADE"))
    engine.dispose()
    return url
