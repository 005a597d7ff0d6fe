"""The CLI's exact JSON contract, through real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from assistant.config import Settings

HIT_KEYS = {"doc_id", "title", "kind", "article", "comma", "section", "page", "score", "text"}
ASK_KEYS = {"query", "answer", "refused", "source", "citations", "glossary_terms", "curated_id"}
CITATION_KEYS = {"doc_id", "article", "comma", "section", "page", "version"}


def run(settings: Settings, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LC_CORPUS_DIR=str(settings.corpus_dir), LC_DATA_DIR=str(settings.data_dir))
    exe = Path(sys.executable).with_name("assistant")
    return subprocess.run([str(exe), *args], input=stdin, capture_output=True, text=True, env=env, timeout=300)


def test_search_json_contract(mini_index: Settings) -> None:
    result = run(mini_index, "search", "--json", "-k", "3", "Che cos'è la co-programmazione?")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["query"] == "Che cos'è la co-programmazione?"
    assert len(data["hits"]) == 3 and set(data["hits"][0]) >= HIT_KEYS
    assert (data["hits"][0]["article"], data["hits"][0]["comma"]) == ("55", "2")
    assert data["hits"][0]["kind"] == "norma" and isinstance(data["hits"][0]["score"], float)


def test_search_reads_queries_from_stdin(mini_index: Settings) -> None:
    result = run(mini_index, "search", "--json", stdin="co-progettazione\n\nconvenzioni con le ODV\n")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["query"] for line in lines] == ["co-progettazione", "convenzioni con le ODV"]
    assert all(len(line["hits"]) == 5 for line in lines)


def test_ask_json_contract(mini_index: Settings) -> None:
    result = run(mini_index, "ask", "--json", "--audience", "funzionario", "Che cos'è la co-progettazione?")
    data = json.loads(result.stdout)
    assert set(data) >= ASK_KEYS
    assert data["source"] == "glossary" and data["refused"] is False and data["curated_id"] is None
    assert data["glossary_terms"][0]["id"] == "co-progettazione"
    assert set(data["citations"][0]) >= CITATION_KEYS
    assert data["citations"][0]["version"] in ("testo vigente al 4-2-2023", "testo adottato il 31-3-2021")


def test_ask_batch_and_refusal(mini_index: Settings) -> None:
    result = run(mini_index, "ask", "--json", stdin="Chi ha vinto il campionato di calcio?\n")
    data = json.loads(result.stdout)
    assert data["refused"] is True and data["citations"] == []


def test_errors_are_one_italian_line_without_traceback(mini_index: Settings, tmp_path: Path) -> None:
    result = run(mini_index, "ask", "  ")
    assert result.returncode == 1
    assert result.stderr.strip() == "Errore: Scrivi una domanda: il campo è vuoto."
    env_settings = Settings(corpus_dir=mini_index.corpus_dir, data_dir=tmp_path / "nuovo")
    result = run(env_settings, "search", "--json", "qualcosa")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Crealo con: assistant ingest" in result.stderr


def test_ingest_prints_a_summary(mini_index: Settings) -> None:
    result = run(mini_index, "ingest", "--json", "--quiet")
    data = json.loads(result.stdout)
    assert result.returncode == 0 and data["embedded"] == 0 and data["skipped"] == []
