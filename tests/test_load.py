"""20 concurrent gradio_client users against the real app: zero errors (latency is reported by evals.load)."""

from __future__ import annotations

import pytest
from conftest import app_server, make_settings, write_mini_corpus

from assistant import generations
from assistant.index import current_catalog
from assistant.ingest import ingest
from evals.cluster import health
from evals.load import run_load

pytestmark = pytest.mark.slow

QUESTIONS = [
    "Che cos'è la co-programmazione?",
    "Come si scelgono gli enti partner della co-progettazione?",
    "Le convenzioni con le ODV possono prevedere compensi?",
    "Chi è il volontario?",
    "Quali atti vanno pubblicati in Amministrazione trasparente?",
    "Cosa ha deciso il Consiglio di Stato su Casa Jannacci?",
    "Cosa prevede l'art. 12 della legge 241/1990?",
    "Qual è la ricetta del tiramisù?",
]


def test_twenty_concurrent_clients_get_answers_without_errors(tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("load")
    settings = make_settings(tmp, write_mini_corpus(tmp / "corpus"))
    ingest(settings)
    with app_server(settings, tmp / "app.log") as url:
        report = run_load(url, QUESTIONS, clients=20, seconds=30, max_requests_per_client=3)
        status, body = health(url)
    # /health of the single-process default: the generation it serves, and what it holds.
    assert status == 200 and body["status"] == "ok" and body["store"] == "embedded", body
    assert body["generation"]["local"] == generations.current(settings.index_dir).name
    assert body["documents"] == len(current_catalog(settings).documents) and "shared" not in body["generation"]
    assert report.errors == []
    assert len(report.latencies_ms) >= 20
