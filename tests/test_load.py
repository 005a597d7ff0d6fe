"""20 concurrent gradio_client users against the real app: zero errors (latency is reported by evals.load)."""

from __future__ import annotations

import pytest
from conftest import app_server, make_settings, write_mini_corpus

from assistant.ingest import ingest
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
    assert report.errors == []
    assert len(report.latencies_ms) >= 20
