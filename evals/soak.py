"""Soak with writes: 20 users ask while two trainers upload documents and approve answers, for 10 minutes.

`python -m evals.soak [--minutes 10] [--clients 20]` copies the built index (data/) to a scratch folder, starts
`python app.py` on it with two trainer accounts, and runs, at the same time:
- N gradio_client users asking the dev questions (evals.load), every failure counted;
- a trainer in headless Chromium uploading a new document each cycle (Documenti tab, background indexing), then
  saving a chat answer as a draft, and a second trainer approving it (no self-approval), each step timed out
  after 3 minutes and counted as an error when it fails.
Afterwards the server is stopped and the scratch data is read directly: every upload the page reported as
indexed must be in the current index generation, every approval must be in the curated store as approved. After a
warm-up (the same load for 30 s and one write cycle), the server's resident memory is sampled every 15 s; growth is
the median of the last minute against the median of the first. Writes evals/SOAK_RESULTS.md.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.auth import hash_password
from assistant.config import Settings, load_settings
from evals.appserver import serving_app
from evals.harness import DATASETS, load_items
from evals.load import LoadReport, run_load
from evals.metrics import percentile

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
TRAINERS = (("formatrice", "soak-formatrice-2026"), ("revisore", "soak-revisore-2026"))
STEP_MS = 180_000


@dataclass
class Writes:
    uploads: list[str] = field(default_factory=list)  # doc ids the page reported as indexed
    approvals: list[str] = field(default_factory=list)  # curated answer ids approved
    errors: list[str] = field(default_factory=list)
    cycle_seconds: list[float] = field(default_factory=list)


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def log_in(page: Any, name: str, password: str) -> None:
    page.click("#lc-login")
    page.fill("#lc-login-user input, #lc-login-user textarea", name)
    page.fill("#lc-login-password input", password)
    page.click("#lc-login-button")
    page.wait_for_function(f"() => document.querySelector('#lc-login-status')?.innerText.includes('{name}')")


def ask(page: Any, question: str) -> None:
    page.get_by_role("tab", name="Chiedi").click()
    page.click("#lc-new")
    page.wait_for_function("() => document.querySelectorAll('#lc-chat .message').length === 0")
    page.fill("#lc-question textarea", question)
    page.click("#lc-send")
    page.wait_for_function(
        "q => [...document.querySelectorAll('#lc-chat .message')].some(m => m.innerText.includes(q))", arg=question[:30]
    )
    page.wait_for_function(
        "() => document.querySelectorAll('#lc-chat .message').length >= 2 && "
        "document.querySelectorAll('#lc-chat .message').length % 2 === 0 && "
        "!document.querySelector('#lc-chat .pending')"
    )


def upload(page: Any, folder: Path, number: int) -> str:
    doc_id = f"soak-nota-{number:03d}"
    path = folder / f"{doc_id}.md"
    path.write_text(
        f"# Nota di prova {number}\n\n## Tavolo {number}\n\nIl tavolo di quartiere numero {number} si riunisce "
        f"il giorno {number % 28 + 1} di ogni mese per la co-progettazione dei servizi (nota di prova {number}).\n",
        encoding="utf-8",
    )
    page.get_by_role("tab", name="Documenti").click()
    page.locator("#lc-upload input[type=file]").set_input_files([str(path)])
    page.click("#lc-upload-button")
    page.wait_for_function(
        f"() => (document.querySelector('#lc-upload-result')?.innerText || '').includes('{doc_id}.md') && "
        "(document.querySelector('#lc-upload-status')?.innerText || '').includes('completato')"
    )
    result = page.inner_text("#lc-upload-result")
    if "indicizzato" not in result:
        raise RuntimeError(f"upload {doc_id} non indicizzato: {result[-200:]}")
    return doc_id


def draft_and_approve(author: Any, reviewer: Any, number: int) -> str:
    """The author writes a draft in the Risposte curate form; the reviewer opens and approves it."""
    author.get_by_role("tab", name="Risposte curate").click()
    author.fill("#lc-cur-id textarea, #lc-cur-id input", "")
    author.fill("#lc-cur-question textarea", f"Prova di carico {number}: a che cosa serve la co-progettazione?")
    author.fill(
        "#lc-cur-answer textarea",
        f"Risposta di prova numero {number}. La co-progettazione serve a definire ed eventualmente realizzare "
        "specifici progetti di servizio o di intervento [1].",
    )
    author.fill("#lc-cur-citations textarea", "dlgs-117-2017-codice-terzo-settore?article=55&comma=3")
    author.click("#lc-cur-create")
    author.wait_for_function("() => document.querySelector('#lc-cur-id textarea, #lc-cur-id input')?.value.length > 0")
    answer_id = str(author.locator("#lc-cur-id textarea, #lc-cur-id input").first.input_value())
    reviewer.get_by_role("tab", name="Risposte curate").click()
    reviewer.fill("#lc-cur-question textarea", "")  # filled again when the answer is open
    reviewer.fill("#lc-cur-id textarea, #lc-cur-id input", answer_id)
    reviewer.click("#lc-cur-open")
    reviewer.wait_for_function("() => document.querySelector('#lc-cur-question textarea')?.value.length > 0")
    reviewer.click("#lc-cur-approve")
    reviewer.wait_for_function(
        f"() => (document.querySelector('#lc-cur-message')?.innerText || '').includes('{answer_id}')"
        " && (document.querySelector('#lc-cur-message')?.innerText || '').includes('approvata (revisione')"
    )
    return answer_id


def trainer_loop(url: str, deadline: float, folder: Path, writes: Writes, max_cycles: int | None = None) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        pages = []
        for name, password in TRAINERS:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="it-IT").new_page()
            page.set_default_timeout(STEP_MS)
            page.goto(url, wait_until="load")
            page.wait_for_selector("#lc-question textarea")
            log_in(page, name, password)
            pages.append(page)
        author, reviewer = pages
        number = len(writes.cycle_seconds)
        done = 0
        while time.monotonic() < deadline or (max_cycles is not None and done < max_cycles):
            if max_cycles is not None and done >= max_cycles:
                break
            number += 1
            done += 1
            began = time.monotonic()
            try:
                writes.uploads.append(upload(author, folder, number))
            except Exception as exc:  # a failed step is an error of the run
                writes.errors.append(f"upload {number}: {type(exc).__name__}: {str(exc)[:200]}")
            try:
                writes.approvals.append(draft_and_approve(author, reviewer, number))
            except Exception as exc:
                writes.errors.append(f"approvazione {number}: {type(exc).__name__}: {str(exc)[:200]}")
            writes.cycle_seconds.append(time.monotonic() - began)
        browser.close()


def verify(settings: Settings, writes: Writes) -> list[str]:
    """What the scratch data holds after the server stopped: every committed write, or a problem per miss."""
    from assistant.curated.store import CuratedStore
    from assistant.index import current_catalog

    problems = []
    catalog = current_catalog(settings)
    indexed = set(catalog.documents) if catalog else set()
    problems += [f"upload {d} assente dall'indice" for d in writes.uploads if d not in indexed]
    store = CuratedStore.open(settings.sqlalchemy_url, catalog)
    try:
        for answer_id in writes.approvals:
            answer = store.get(answer_id)
            if answer is None or answer.status != "approvata":
                problems.append(f"risposta {answer_id} non approvata ({answer.status if answer else 'assente'})")
    finally:
        store.close()
    return problems


def run(minutes: float, clients: int, workdir: Path) -> dict[str, Any]:
    source = load_settings()
    data = workdir / "data"
    shutil.copytree(source.data_dir, data, ignore=shutil.ignore_patterns("uploads", "*.lock"))
    settings = load_settings(data_dir=data)
    users = ",".join(f"{name}:{hash_password(password)}" for name, password in TRAINERS)
    questions = [i.question for i in load_items(DATASETS / "retrieval_dev.jsonl")]
    writes = Writes()
    with (
        (workdir / "app.log").open("w") as log,
        serving_app({"LC_DATA_DIR": str(data), "LC_TRAINER_USERS": users}, log) as (proc, url),
    ):
        # Warm-up: every code path once (questions, an upload and its reload, an approval), then the baseline.
        run_load(url, questions, clients, 30)
        trainer_loop(url, time.monotonic(), workdir, writes, max_cycles=1)
        deadline = time.monotonic() + minutes * 60
        load: dict[str, LoadReport] = {}
        asking = threading.Thread(
            target=lambda: load.setdefault("report", run_load(url, questions, clients, minutes * 60)), daemon=True
        )
        asking.start()
        samples: list[float] = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(15):
                samples.append(rss_mb(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        trainer_loop(url, deadline, workdir, writes)
        asking.join()
        sampling.set()
    # Like with like: the server's memory during the first minute of the soak against its last minute (a reload
    # briefly holds two indexes, so single samples swing by tens of MB).
    per_minute = max(1, len(samples) // max(1, round(minutes)))
    rss_start = percentile(samples[:per_minute], 50) if samples else 0.0
    rss_end = percentile(samples[-per_minute:], 50) if samples else 0.0
    server_errors = [line for line in (workdir / "app.log").read_text().splitlines() if line.startswith("ERROR")]
    report = load["report"]
    problems = verify(settings, writes)
    return {
        "minutes": minutes,
        "clients": clients,
        "questions": report.requests,
        "question_errors": report.errors,
        "p50_ms": percentile(report.latencies_ms, 50),
        "p95_ms": percentile(report.latencies_ms, 95),
        "uploads": len(writes.uploads),
        "approvals": len(writes.approvals),
        "write_errors": writes.errors,
        "cycle_p50_s": percentile(writes.cycle_seconds, 50),
        "missing": problems,
        "rss_start_mb": rss_start,
        "rss_end_mb": rss_end,
        "rss_growth": (rss_end - rss_start) / rss_start if rss_start else 0.0,
        "rss_samples_mb": samples,
        "server_errors": server_errors,
    }


def write_report(result: dict[str, Any], command: str) -> str:
    ok = not result["question_errors"] and not result["write_errors"] and not result["missing"]
    ok = ok and not result["server_errors"]
    growth_ok = result["rss_growth"] < 0.10
    text = (
        "# Soak con scritture\n\n"
        f"`{command}` su questa macchina (2 core): {result['clients']} utenti gradio_client fanno domande "
        f"per {result['minutes']:g} minuti mentre una formatrice carica un documento e salva una risposta in "
        "bozza e un revisore la approva, in Chromium, a ciclo continuo. Poi il server si ferma e si rilegge "
        "l'indice e l'archivio delle risposte curate.\n\n"
        "| misura | valore | obiettivo |\n|---|---|---|\n"
        f"| domande | {result['questions']} (p50 {result['p50_ms']:.0f} ms, p95 {result['p95_ms']:.0f} ms) | |\n"
        f"| errori delle domande | {len(result['question_errors'])} | 0 |\n"
        f"| caricamenti indicizzati | {result['uploads']} | |\n"
        f"| approvazioni | {result['approvals']} | |\n"
        f"| errori delle scritture | {len(result['write_errors'])} | 0 |\n"
        f"| scritture confermate ma assenti dopo | {len(result['missing'])} | 0 |\n"
        f"| righe ERROR nel log del server | {len(result['server_errors'])} | 0 |\n"
        f"| memoria del server (RSS, mediana del primo minuto → dell'ultimo) | {result['rss_start_mb']:.0f} → "
        f"{result['rss_end_mb']:.0f} MB "
        f"({result['rss_growth']:+.1%}) | < +10 % |\n"
        f"| durata mediana di un ciclo di scritture | {result['cycle_p50_s']:.0f} s | |\n\n"
        f"Esito: {'superato' if ok and growth_ok else 'NON superato'}.\n\n"
        "Memoria del server ogni 15 s (MB): " + ", ".join(f"{m:.0f}" for m in result["rss_samples_mb"]) + ".\n"
    )
    for title, items in (
        ("Errori delle domande", result["question_errors"]),
        ("Errori delle scritture", result["write_errors"]),
        ("Scritture assenti", result["missing"]),
        ("Errori nel log del server", result["server_errors"]),
    ):
        if items:
            text += f"\n{title} (primi 5):\n" + "\n".join(f"- {e}" for e in items[:5]) + "\n"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--output", default=str(REPO / "evals" / "SOAK_RESULTS.md"))
    parser.add_argument("--workdir", default=None, help="keep the scratch data and the server log here (new folder)")
    args = parser.parse_args(argv)
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=False)
        result = run(args.minutes, args.clients, Path(args.workdir))
    else:
        with tempfile.TemporaryDirectory(prefix="lc-soak-") as tmp:
            result = run(args.minutes, args.clients, Path(tmp))
    command = f"python -m evals.soak --minutes {args.minutes:g} --clients {args.clients}"
    text = write_report(result, command)
    Path(args.output).write_text(text, encoding="utf-8")
    print(text)
    passed = not result["question_errors"] and not result["write_errors"] and not result["missing"]
    passed = passed and not result["server_errors"]
    return 0 if passed and result["rss_growth"] < 0.10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
