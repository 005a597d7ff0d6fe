"""Crash-safe ingest: `assistant ingest` killed with SIGKILL at each named point leaves a consistent index.

Each case indexes a small real corpus (version 1), changes it (version 2: a document rewritten, one added, one
removed, a bank question added), starts `assistant ingest` in a subprocess that pauses at one point, kills it
with SIGKILL, then checks that a search reads one whole generation: the catalogue, the vectors and the question
bank all of version 1 (killed before the switch) or all of version 2 (after it). The vectors are compared with
the embedder's own vectors of each passage's text, an independent truth. The next ingest completes and leaves
no vector of the old version behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import CTS, REPO, cut_articles, make_settings

from assistant.answer import Assistant
from assistant.bank import bank_settings, question_key
from assistant.catalog import embed_text
from assistant.config import Settings
from assistant.embeddings import get_embedder
from assistant.generations import PAUSE_ENV, PAUSE_MARK
from assistant.index import current_catalog
from assistant.ingest import ingest
from assistant.retrieve import Retriever
from assistant.store import IndexMissingError, open_store

pytestmark = pytest.mark.slow

BANK_V1 = """doc_id: dlgs-117-2017-codice-terzo-settore
passages:
  - refs: [{article: "55", comma: "1"}]
    questions:
      funzionario: ["Quali strumenti usa l'amministrazione per coinvolgere gli enti del Terzo settore?"]
"""
BANK_V2 = (
    BANK_V1
    + """  - refs: [{article: "56", comma: "1"}]
    questions:
      operatore: ["Con quali enti il Comune può firmare una convenzione per attività di interesse generale?"]
"""
)


def _module(title: str, sections: int, words: str) -> str:
    body = "".join(
        f"## {title} {n}\n\nParagrafo {n} sul tavolo di co-progettazione: {words} (sezione {n}).\n\n"
        for n in range(1, sections + 1)
    )
    return f"# {title}\n\n{body}"


def write_version(root: Path, version: int) -> None:
    """Version 1 or 2 of a small corpus, written in place (the same paths, as an editor would change them)."""
    (root / "norme").mkdir(parents=True, exist_ok=True)
    (root / "formazione").mkdir(exist_ok=True)
    (root / "domande").mkdir(exist_ok=True)
    (root / "norme" / CTS.name).write_text(cut_articles(CTS, ("55", "56")), encoding="utf-8")
    words = "le sedute sono verbalizzate" if version == 1 else "ogni seduta produce un verbale firmato dagli enti"
    (root / "formazione" / "tavolo.md").write_text(
        _module("Tavolo", 6 if version == 1 else 20, words), encoding="utf-8"
    )
    old = root / "formazione" / "vecchia.md"
    if version == 1:
        old.write_text(_module("Nota superata", 2, "indicazioni del 2020"), encoding="utf-8")
    else:
        old.unlink(missing_ok=True)
        (root / "formazione" / "nuova.md").write_text(_module("Nota nuova", 3, "indicazioni recenti"), encoding="utf-8")
    (root / "domande" / f"{CTS.stem}.yaml").write_text(BANK_V1 if version == 1 else BANK_V2, encoding="utf-8")


def snapshot(settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    """The passages (id -> text) and bank questions (id -> text) the current generation holds."""
    retriever = Retriever.load(settings)
    assert retriever.bank is not None
    return {c.id: c.text for c in retriever.catalog.chunks}, {q.id: q.text for q in retriever.bank.questions}


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[dict[str, str], dict[str, str]]]:
    """What a reader must see after a complete ingest of version 1 and of version 2 (built in this process)."""
    tmp = tmp_path_factory.mktemp("reference")
    settings = make_settings(tmp, tmp / "corpus")
    write_version(settings.corpus_dir, 1)
    ingest(settings)
    first = snapshot(settings)
    write_version(settings.corpus_dir, 2)
    ingest(settings)
    second = snapshot(settings)
    assert first[0] != second[0] and first[1] != second[1]
    assert "vecchia:nota-superata-1:1" in first[0] and "nuova:nota-nuova-1:1" in second[0]
    return {1: first, 2: second}


def killed_ingest(settings: Settings, point: str) -> None:
    """Run `assistant ingest` until it reaches `point`, then SIGKILL it."""
    env = {
        **os.environ,
        PAUSE_ENV: point,
        "LC_CORPUS_DIR": str(settings.corpus_dir),
        "LC_DATA_DIR": str(settings.data_dir),
        "LC_INGEST_WORKERS": "1",
        "HF_HUB_OFFLINE": "1",
    }
    command = [sys.executable, "-m", "assistant.cli", "ingest", "--quiet"]
    proc = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if line.startswith(PAUSE_MARK):
                break
        else:
            pytest.fail(f"ingest ended without reaching {point!r}:\n{''.join(seen[-20:])}")
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()


def as_a_new_process() -> None:
    """Forget this process's embedded Chroma systems, as a new process would start: Chroma keeps one system per
    path in memory and does not see what another process (the killed ingest) wrote."""
    from chromadb.api.shared_system_client import SharedSystemClient

    for system in list(SharedSystemClient._identifier_to_system.values()):
        system.stop()
    SharedSystemClient.clear_system_cache()


_TRUTH: dict[tuple[str, str], np.ndarray] = {}  # (passage|query, text) -> the embedder's own vector, once per text


def embedded(embedder: Any, role: str, texts: list[str]) -> np.ndarray:
    """The embedder's vectors of `texts`, each text encoded once per module (every case checks the same texts)."""
    missing = list(dict.fromkeys(t for t in texts if (role, t) not in _TRUTH))
    if missing:
        encode = embedder.encode_documents if role == "passage" else embedder.encode_queries
        for text, vector in zip(missing, encode(missing), strict=True):
            _TRUTH[(role, text)] = np.asarray(vector)
    return np.stack([_TRUTH[(role, t)] for t in texts])


def assert_one_generation(settings: Settings, expected: tuple[dict[str, str], dict[str, str]]) -> None:
    """A reader sees exactly `expected` (passages and bank), each passage with its own text's vector."""
    as_a_new_process()
    assistant = Assistant.load(settings)
    retriever = assistant.retriever
    assert retriever.bank is not None
    passages = {c.id: c.text for c in retriever.catalog.chunks}
    bank = {q.id: q.text for q in retriever.bank.questions}
    assert passages == expected[0]
    assert bank == expected[1]
    # Every passage has exactly one vector, and it is the vector of this version's text.
    ids, matrix = retriever._matrix
    assert sorted(ids) == sorted(passages)
    embedder = get_embedder(settings.embedder)
    catalog = retriever.catalog
    truth = embedded(
        embedder, "passage", [embed_text(catalog.by_id[i], catalog.documents[catalog.by_id[i].doc_id]) for i in ids]
    )
    assert np.min(np.sum(matrix * truth, axis=1)) > 0.999
    truth_bank = embedded(embedder, "query", [q.text for q in retriever.bank.questions])
    assert np.min(np.sum(retriever.bank.matrix * truth_bank, axis=1)) > 0.999
    hits = assistant.search("Come si svolge il tavolo di co-progettazione?", 5)
    assert hits and all(passages.get(h.chunk.id) == h.chunk.text for h in hits)


@pytest.mark.parametrize(
    ("point", "survivor"),
    [("embedding", 1), ("store", 1), ("catalogue", 1), ("before-switch", 1), ("after-switch", 2)],
)
def test_ingest_killed_at_any_point_leaves_one_generation(
    tmp_path: Path, versions: dict[int, tuple[dict[str, str], dict[str, str]]], point: str, survivor: int
) -> None:
    settings = make_settings(tmp_path, tmp_path / "corpus")
    write_version(settings.corpus_dir, 1)
    ingest(settings)
    write_version(settings.corpus_dir, 2)

    killed_ingest(settings, point)
    assert_one_generation(settings, versions[survivor])

    report = ingest(settings)  # the next ingest completes, from whatever the kill left
    assert not report.skipped
    assert_one_generation(settings, versions[2])
    catalog = current_catalog(settings)
    assert catalog is not None
    assert open_store(settings).ids() == set(catalog.keys.values())  # no vector of version 1 is left
    retriever = Retriever.load(settings)
    assert retriever.bank is not None
    bank_keys = {question_key(q) for q in retriever.bank.questions}
    assert open_store(bank_settings(settings), check_chunker=False).ids() == bank_keys
    generations = [p for p in (settings.index_dir / "generations").iterdir() if p.is_dir()]
    assert len(generations) <= 2  # the current one and the one before it


def test_rebuild_killed_leaves_no_half_index(tmp_path: Path) -> None:
    """`--rebuild` drops the vectors: killed midway it leaves no index (a clear message), and ingest rebuilds it."""
    settings = make_settings(tmp_path, tmp_path / "corpus")
    write_version(settings.corpus_dir, 1)
    ingest(settings)
    shutil.rmtree(settings.data_dir / "cache")  # so the rebuild has texts to embed
    env_point = "embedding"
    env = {
        **os.environ,
        PAUSE_ENV: env_point,
        "LC_CORPUS_DIR": str(settings.corpus_dir),
        "LC_DATA_DIR": str(settings.data_dir),
        "LC_INGEST_WORKERS": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant.cli", "ingest", "--rebuild", "--quiet"],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith(PAUSE_MARK):
            break
    proc.kill()
    proc.wait(timeout=60)
    as_a_new_process()
    assert current_catalog(settings) is None
    with pytest.raises(IndexMissingError, match="assistant ingest"):
        Assistant.load(settings)
    report = ingest(settings)
    assert report.documents == 3 and not report.skipped
    assert Assistant.load(settings).search("tavolo di co-progettazione", 3)
