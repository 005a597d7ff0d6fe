"""Two app instances over one Chroma server and one PostgreSQL, as real processes on 127.0.0.1 (evals/cluster.py).

One journey, in order: a trainer's upload in A's page (a real browser) is quoted by B; an answer approved through
the shared database is served by B; A is killed with SIGKILL during a user's session, B keeps answering, and a
document added on B meanwhile is cited by A once it restarts; then 20 users over both instances for 60 s with no
error. Plus the shared state's own rules: one ingest at a time, a crashed ingest publishes nothing, lockouts and
sessions hold on every instance, one audit log.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import REPO, write_mini_corpus
from conftest_postgres import postgres_server  # noqa: F401  (session fixture)
from pdfmaker import write_pdf
from sqlalchemy import create_engine, text

from assistant.auth import LoginGuard, LoginRefused, Sessions, Trainers, hash_password
from assistant.auth_store import DbFailures, DbSessions
from assistant.config import load_settings
from assistant.shared import _PG_INGEST_LOCK, IngestBusy, SharedState, metadata
from evals.cluster import Cluster, ask, health, wait_until
from evals.load import run_load

pytestmark = pytest.mark.postgres

SYNC_SECONDS = 1.0
# The stated delay: one poll interval plus the catch-up (writing the file, rebuilding the catalogue and BM25 from
# the store, reloading), a few seconds on the mini corpus; generous for a loaded 2-core CI machine.
CATCH_UP_BOUND = SYNC_SECONDS + 20
NOTE_SENTENCE = "Il tavolo di quartiere della rete Girasole si riunisce ogni secondo martedì del mese."
NOTE_QUESTION = "Quando si riunisce il tavolo di quartiere della rete Girasole?"
NOTE = f"# Nota\n\n## Calendario\n\n{NOTE_SENTENCE}\n"
SECOND_TITLE = "Nota sul centro diurno Arcobaleno"
SECOND = (
    f"---\ntitle: {SECOND_TITLE}\nversion_date: 2026-11-27\n---\n# Nota\n\n## Orari\n\nIl centro diurno "
    "Arcobaleno accoglie gli ospiti dal lunedì al venerdì, dalle nove alle diciassette, in via Feltre.\n"
)
SECOND_QUESTION = "Quali sono gli orari del centro diurno Arcobaleno?"
CURATED_QUESTION = "Il tavolo di co-progettazione può cambiare i criteri della selezione?"
CURATED_TEXT = "No: il tavolo definisce le modalità attuative senza cambiare gli elementi decisivi della selezione."


def _fresh_database(url: str) -> str:
    """Drop the shared and curated tables other tests left in the CI database."""
    engine = create_engine(url)
    with engine.begin() as conn:
        for table in [*metadata.sorted_tables, "curated_revisions", "curated_answers", "schema_version"]:
            name = table if isinstance(table, str) else table.name
            conn.execute(text(f"DROP TABLE IF EXISTS {name} CASCADE"))
    engine.dispose()
    SharedState.forget()
    return url


@pytest.fixture
def cluster(tmp_path: Path, chroma_server, postgres_server: str):  # type: ignore[no-untyped-def]  # noqa: F811
    corpus = write_mini_corpus(tmp_path / "corpus")
    made = Cluster(
        corpus,
        tmp_path,
        chroma_server,
        _fresh_database(postgres_server),
        collection=f"cluster_{int(time.time())}",
        sync_seconds=SYNC_SECONDS,
        extra_env={"LC_TRAINER_USERS": f"maria:{hash_password('pw-maria-1')},luca:{hash_password('pw-luca-12')}"},
    )
    try:
        yield made
    finally:
        made.stop()


def _cites(url: str, question: str, title: str) -> bool:
    return title in ask(url, question)


def upload_in_browser(url: str, path: Path, user: str, password: str) -> None:
    """What a trainer does on the instance at `url`: log in, upload `path` in Documenti, wait until it is indexed."""
    from playwright.sync_api import sync_playwright
    from test_browser import ARGS, CHROMIUM, log_in, upload_files

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(locale="it-IT")
            page.set_default_timeout(90_000)
            page.goto(url, wait_until="load")
            page.wait_for_selector("#lc-question textarea")
            page.click("#lc-login")
            log_in(page, user, password)
            page.wait_for_function("() => document.body.innerText.includes('Accesso effettuato come formatore')")
            upload_files(page, path)
            page.wait_for_function(
                "() => document.querySelector('#lc-upload-result')?.innerText.includes('indicizzato')"
            )
        finally:
            browser.close()


def test_two_instances_share_uploads_approvals_and_survive_a_kill(cluster: Cluster, tmp_path: Path) -> None:
    cluster.command("a", "ingest", "--quiet")
    cluster.start("a")
    cluster.start("b")
    a_body, b_body = cluster.wait_ready("a"), cluster.wait_ready("b")
    assert a_body["generation"]["shared"] == 1 and b_body["generation"]["loaded"] == 1, (a_body, b_body)
    assert a_body["instance"] == "a" and b_body["instance"] == "b"
    a, b = cluster.instances["a"].url, cluster.instances["b"].url
    assert NOTE_SENTENCE not in ask(b, NOTE_QUESTION)

    # A trainer logs in on A and uploads a PDF in the browser; B quotes it within the stated delay.
    pdf = write_pdf(tmp_path / "nota-girasole.pdf", [["Calendario del tavolo", "", NOTE_SENTENCE]])
    upload_in_browser(a, pdf, "maria", "pw-maria-1")
    waited = wait_until(lambda: NOTE_SENTENCE in ask(b, NOTE_QUESTION), CATCH_UP_BOUND, 0.3)
    assert waited is not None, f"B did not cite the upload within {CATCH_UP_BOUND} s: {health(b)}"
    copy = cluster.instances["b"].data_dir / "uploads" / "formazione" / "nota-girasole.pdf"
    assert copy.read_bytes() == pdf.read_bytes()  # the file itself came through the database
    assert health(b)[1]["generation"]["loaded"] == 2

    # An answer approved by two trainers (through the shared database, as on A's Risposte curate) is served by B.
    from assistant.curated import CuratedAnswer, CuratedStore
    from assistant.references import Ref

    store = CuratedStore.open(cluster.database_url)
    cited = (Ref("dlgs-117-2017-codice-terzo-settore", "55", "3"),)
    created = store.create(
        CuratedAnswer(id="", question=CURATED_QUESTION, answer=CURATED_TEXT, citations=cited), "maria"
    )
    store.approve(created.id, "luca", created.revision)
    store.close()
    assert wait_until(lambda: CURATED_TEXT in ask(b, CURATED_QUESTION), 20, 0.5) is not None

    # A is killed during a user's session; B keeps answering; a document added on B meanwhile reaches A on restart.
    assert "Fonti" in ask(a, NOTE_QUESTION)
    cluster.kill("a")
    assert NOTE_SENTENCE in ask(b, NOTE_QUESTION)
    second = tmp_path / "centro-arcobaleno.md"
    second.write_text(SECOND, encoding="utf-8")
    cluster.command("b", "ingest", str(second), "--kind", "formazione", "--quiet")
    cluster.start("a")
    restarted = cluster.wait_ready("a")
    assert restarted["generation"]["loaded"] == restarted["generation"]["shared"] == 3, restarted
    assert _cites(a, SECOND_QUESTION, SECOND_TITLE) and NOTE_SENTENCE in ask(a, NOTE_QUESTION)

    # 20 users spread over both instances for 60 s: no error.
    questions = [NOTE_QUESTION, SECOND_QUESTION, CURATED_QUESTION, "Che cos'è la co-programmazione?"]
    load = run_load([a, b], questions, 20, 60)
    assert load.errors == [] and load.requests >= 20, load.summary()
    for name in ("a", "b"):
        log = cluster.instances[name].log.read_text(errors="replace")
        assert "Traceback" not in log, log[-3000:]


def test_one_ingest_at_a_time_and_a_crashed_ingest_publishes_nothing(cluster: Cluster, tmp_path: Path) -> None:
    cluster.command("a", "ingest", "--quiet")
    settings = load_settings(
        store="server",
        chroma_host=cluster.chroma[0],
        chroma_port=cluster.chroma[1],
        collection=cluster.collection,
        database_url=cluster.database_url,
        corpus_dir=cluster.corpus,
        data_dir=tmp_path / "data-b",
        ingest_lock_wait_seconds=1,
    )
    shared = SharedState.open(settings)
    assert shared.version()[0] == 1

    # Instance B holds the lock (in another process): A's ingest waits, then says why in Italian.
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, cluster.database_url],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(IngestBusy, match="Un'altra istanza sta aggiornando l'indice"), shared.ingest_lock(1.0):
            pass
        busy = cluster.command("a", "ingest", "--quiet", check=False)
        assert busy.returncode == 0, busy.stderr  # A waits up to 600 s: the holder lets go after 3 s
    finally:
        holder.kill()
        holder.wait(timeout=20)

    # An ingest killed after writing its vectors but before its switch publishes nothing.
    note = tmp_path / "nota-girasole.md"
    note.write_text(NOTE, encoding="utf-8")
    env = cluster.env("a", cluster.instance("a").data_dir) | {"LC_INGEST_PAUSE_AT": "before-switch"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant.cli", "ingest", str(note), "--kind", "formazione", "--quiet"],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "LC-INGEST-PAUSED" in line:
            break
    proc.kill()
    proc.wait(timeout=20)
    assert shared.version()[0] == 1 and shared.uploads() == []
    # The lock died with the process: the next ingest runs, and the document is published with it.
    cluster.command("a", "ingest", str(note), "--kind", "formazione", "--quiet")
    assert shared.version()[0] == 2 and [u.doc_id for u in shared.uploads()] == ["nota-girasole"]
    audit = shared.audit()
    assert [line["action"] for line in audit][:2] == ["indice", "indice"]
    assert audit[0]["detail"] == "versione 2; caricati: nota-girasole; rimossi: -" and audit[0]["instance"] == "a"


_HOLD_LOCK = f"""
import sys, time
from sqlalchemy import create_engine
engine = create_engine(sys.argv[1])
conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
assert conn.exec_driver_sql("SELECT pg_try_advisory_lock({_PG_INGEST_LOCK})").scalar()
print("held", flush=True)
time.sleep(3)
"""


def test_lockouts_and_sessions_hold_on_every_instance(
    postgres_server: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = _fresh_database(postgres_server)
    settings = load_settings(store="server", database_url=url, data_dir=tmp_path / "data", instance="a")
    engine = SharedState.open(settings).engine
    trainers = Trainers({"maria": hash_password("pw-maria-1")})

    def instance(name: str) -> Sessions:  # what each app process builds from the same settings
        guard = LoginGuard(max_failures=3, lockout_seconds=900, backoff_base_seconds=0.0, clock=time.time)
        guard._store = DbFailures(engine)
        shared = SharedState(engine, name)
        return Sessions(
            trainers,
            guard,
            480,
            time.time,
            store=DbSessions(engine),
            audit=lambda actor, action, detail: shared.record(actor, action, "", detail),
        )

    a, b = instance("a"), instance("b")
    for _ in range(3):
        with pytest.raises(LoginRefused):
            a.login("maria", "sbagliata", "10.0.0.7")
    with pytest.raises(LoginRefused, match="bloccato"):
        b.login("maria", "pw-maria-1", "10.0.0.8")  # the lockout of user maria holds on B too

    c = instance("c")
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM lc_login_failures"))
    session = c.login("maria", "pw-maria-1", "10.0.0.9")
    assert a.trainer(session.token) == "maria"  # logged in on C, writes through A
    assert b.logout(session.token) == "maria"
    assert a.trainer(session.token) is None and c.trainer(session.token) is None

    # Concurrent wrong passwords from two instances never slip past the limit.
    d, e = instance("d"), instance("e")
    refusals: list[str] = []

    def attempt(sessions: Sessions) -> None:
        try:
            sessions.login("maria", "sbagliata", "10.0.0.10")
        except LoginRefused as exc:
            refusals.append(str(exc))

    threads = [threading.Thread(target=attempt, args=(s,)) for s in (d, e, d, e, d, e)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as conn:
        counts = dict(conn.execute(text("SELECT key, count FROM lc_login_failures")).all())
    assert counts["user:maria"] <= 3, counts

    # Every instance's logins are in one audit log, newest first (`assistant audit`).
    from assistant.cli import main

    assert main(["audit", "--json", "--limit", "500"], settings) == 0
    lines = json.loads(capsys.readouterr().out)
    actions = [(line["instance"], line["action"]) for line in reversed(lines)]
    assert actions[:5] == [("a", "accesso fallito")] * 3 + [("b", "accesso rifiutato"), ("c", "accesso")], actions
    assert ("b", "uscita") in actions


def test_an_upload_on_a_removed_on_b_is_gone_everywhere(
    tmp_path: Path,
    chroma_server,  # type: ignore[no-untyped-def]
    postgres_server: str,  # noqa: F811
) -> None:
    from assistant.index import current_catalog
    from assistant.ingest import ingest
    from assistant.shared import catch_up
    from assistant.uploads import add_upload, remove_extra

    common = {
        "store": "server",
        "chroma_host": chroma_server[0],
        "chroma_port": chroma_server[1],
        "collection": f"removal_{int(time.time())}",
        "database_url": _fresh_database(postgres_server),
        "corpus_dir": write_mini_corpus(tmp_path / "corpus"),
        "ingest_workers": 1,
    }
    a = load_settings(data_dir=tmp_path / "a", instance="a", **common)
    b = load_settings(data_dir=tmp_path / "b", instance="b", **common)
    ingest(a)
    note = tmp_path / "nota-girasole.md"
    note.write_text(NOTE, encoding="utf-8")
    doc_id = add_upload(a, note, "formazione", actor="maria")
    shared = SharedState.open(b)
    with shared.ingest_lock(5):
        assert catch_up(b, shared)
    b_catalog = current_catalog(b)
    assert b_catalog is not None
    info = b_catalog.document(doc_id)
    assert info is not None and info.kind == "formazione" and Path(info.path).read_text(encoding="utf-8") == NOTE

    # Documenti on B says who uploaded it on A (the shared record), as any instance would.
    from types import SimpleNamespace

    from assistant.ui.library import documents_table

    services = SimpleNamespace(assistant=SimpleNamespace(retriever=SimpleNamespace(catalog=b_catalog)), shared=shared)
    origin = next(row[4] for row in documents_table(services) if row[5] == doc_id)  # type: ignore[arg-type]
    assert origin.startswith("caricato da maria il "), origin

    remove_extra(b, info, actor="luca")
    assert shared.uploads() == []
    with shared.ingest_lock(5):
        assert catch_up(a, shared)
    a_catalog = current_catalog(a)
    assert a_catalog is not None and a_catalog.document(doc_id) is None
    assert not (a.uploads_dir / "formazione" / "nota-girasole.md").exists()
    actions = [(line["instance"], line["actor"], line["action"]) for line in reversed(shared.audit())]
    assert ("a", "maria", "caricamento") in actions and ("b", "luca", "rimozione") in actions, actions
    assert actions[-1][2] == "indice"  # the removal's generation, published by b
