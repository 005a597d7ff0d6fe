"""Shared fixtures: a small real corpus cut from corpus/, indexed once with the real offline embedder."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.config import Settings, load_settings
from evals.appserver import serving_app

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
CTS = CORPUS / "norme" / "dlgs-117-2017-codice-terzo-settore.txt"
MINI_ARTICLES = ("4", "5", "17", "32", "55", "56", "57")


# A few questions of the real bank (corpus/domande) for the mini corpus's articles.
MINI_BANK = """doc_id: dlgs-117-2017-codice-terzo-settore
passages:
  - refs: [{article: "17", comma: "3"}]
    questions:
      operatore: ["Come volontario posso ricevere un piccolo compenso fisso per le ore che faccio?"]
      funzionario: ["Nel piano dei costi posso riconoscere ai volontari un rimborso spese forfetario?"]
  - refs: [{article: "55", comma: "4"}]
    questions:
      funzionario:
        - "Prima di individuare gli enti partner di una co-progettazione tramite accreditamento, cosa deve definire
          l'amministrazione?"
  - refs: [{article: "56", comma: "2"}]
    questions:
      operatore: ["Con la convenzione il Comune ci paga il servizio o ci rimborsa solo le spese?"]
"""


MINI_PRONTUARIO = (
    "volontario-nessun-compenso",
    "rimborsi-spese-volontari",
    "rimborso-volontari-autocertificazione",
    "odv-requisiti-costituzione",
)


def mini_prontuario() -> str:
    """The real prontuario answers on the mini corpus's articles (volunteers, ODV), as one file."""
    import yaml

    kept = []
    for path in sorted((CORPUS / "prontuario").glob("*.yaml")):
        kept += [r for r in yaml.safe_load(path.read_text(encoding="utf-8"))["risposte"] if r["id"] in MINI_PRONTUARIO]
    return yaml.safe_dump({"tema": "volontari", "risposte": kept}, allow_unicode=True, sort_keys=False)


def import_prontuario(settings: Settings) -> None:
    """What `make run` does after ingest: the editors' prontuario into the curated store."""
    from assistant.curated.store import CuratedStore
    from assistant.index import indexed_catalog
    from assistant.prontuario import load_prontuario, sync_prontuario

    entries, problems = load_prontuario(settings.corpus_dir / "prontuario")
    assert not problems, problems
    store = CuratedStore.open(settings.sqlalchemy_url, indexed_catalog(settings))
    sync_prontuario(store, entries)
    store.close()


def cut_articles(path: Path, articles: tuple[str, ...]) -> str:
    """The header and the given articles of a Normattiva text, verbatim."""
    text = path.read_text(encoding="utf-8")
    head, _, body = text.partition("\nArt. 1\n")
    parts = re.split(r"(?m)^(?=Art\. \d+)", "Art. 1\n" + body)
    keep = [p for p in parts if re.match(r"Art\. (\d+)", p) and re.match(r"Art\. (\d+)", p).group(1) in articles]
    return head + "\n" + "".join(keep)


def write_mini_corpus(root: Path) -> Path:
    """A few real texts: CTS articles, L. 241 art. 11-12, a DM 72 excerpt, a judgment, a training module."""
    (root / "norme").mkdir(parents=True)
    (root / "linee-guida").mkdir()
    (root / "giurisprudenza").mkdir()
    (root / "formazione").mkdir()
    (root / "norme" / CTS.name).write_text(cut_articles(CTS, MINI_ARTICLES), encoding="utf-8")
    l241 = CORPUS / "norme" / "l-241-1990-procedimento-amministrativo.txt"
    (root / "norme" / l241.name).write_text(cut_articles(l241, ("11", "12")), encoding="utf-8")
    dm72 = (CORPUS / "linee-guida" / "dm-72-2021-linee-guida.txt").read_text(encoding="utf-8")
    start = dm72.index("3.IL PROCEDIMENTO DI CO-PROGETTAZIONE")
    (root / "linee-guida" / "dm-72-2021-linee-guida.txt").write_text(dm72[start : start + 6000], encoding="utf-8")
    judgment = (CORPUS / "giurisprudenza" / "cds-3082-2026.txt").read_text(encoding="utf-8")
    (root / "giurisprudenza" / "cds-3082-2026.txt").write_text(
        judgment[:9000] + "\nP.Q.M.\n" + judgment.split("P.Q.M.")[1][:1500], encoding="utf-8"
    )
    (root / "formazione" / "modulo-prova.md").write_text(
        "---\ntitle: Modulo di prova\nversion_date: 2026-11-25\n---\n# Modulo di prova\n\n"
        "## Come si svolge il tavolo di co-progettazione\n\nIl tavolo riunisce l'amministrazione procedente e gli "
        "enti selezionati. Si tengono sessioni verbalizzate in cui si definiscono le modalità attuative del "
        "progetto, senza cambiare gli elementi che hanno deciso la selezione.\n",
        encoding="utf-8",
    )
    shutil.copytree(CORPUS / "glossario", root / "glossario")
    shutil.copy(CORPUS / "ambito.yaml", root / "ambito.yaml")
    (root / "domande").mkdir()
    (root / "domande" / f"{CTS.stem}.yaml").write_text(MINI_BANK, encoding="utf-8")
    (root / "prontuario").mkdir()
    (root / "prontuario" / "volontari.yaml").write_text(mini_prontuario(), encoding="utf-8")
    if (CORPUS / "requisiti").is_dir():
        shutil.copytree(CORPUS / "requisiti", root / "requisiti")
    manifest = (CORPUS / "manifest.toml").read_text(encoding="utf-8")
    keep = [manifest.split("[[documents]]")[0]]  # the aliases and defaults
    for block in manifest.split("[[documents]]")[1:]:
        if any(f'doc_id = "{d}"' in block for d in (CTS.stem, l241.stem, "dm-72-2021-linee-guida", "cds-3082-2026")):
            keep.append(
                "[[documents]]" + "\n".join(ln for ln in block.splitlines() if not ln.startswith("page_source"))
            )
    (root / "manifest.toml").write_text("\n".join(keep), encoding="utf-8")
    return root


def make_settings(tmp: Path, corpus: Path, **overrides: object) -> Settings:
    return load_settings(corpus_dir=corpus, data_dir=tmp / "data", ingest_workers=1, **overrides)


@pytest.fixture(scope="session")
def mini_index(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The mini corpus indexed once per test session (embedded Chroma, default embedder)."""
    from assistant.ingest import ingest

    tmp = tmp_path_factory.mktemp("mini")
    settings = make_settings(tmp, write_mini_corpus(tmp / "corpus"))
    report = ingest(settings)
    assert not report.skipped, report.summary()
    return settings


@pytest.fixture(scope="session")
def mini_assistant(mini_index: Settings):  # type: ignore[no-untyped-def]
    from assistant.answer import Assistant

    return Assistant.load(mini_index)


@pytest.fixture(scope="session")
def full_settings() -> Settings:
    """The repository corpus and its index, as `make test` builds it before running the suite."""
    settings = load_settings(corpus_dir=CORPUS, data_dir=REPO / "data")
    from assistant.index import current_catalog

    if current_catalog(settings) is None:
        pytest.fail("L'indice completo manca: esegui `make test` (costruisce l'indice) oppure `assistant ingest`.")
    return settings


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A real Chroma server: the one `.ci/run` started (LC_TEST_CHROMA_PORT) or one started here."""
    port = os.environ.get("LC_TEST_CHROMA_PORT")
    if port:
        yield "127.0.0.1", int(port)
        return
    from evals.cluster import chroma_process

    try:
        with chroma_process(tmp_path_factory.mktemp("chroma-server")) as address:
            yield address
    except RuntimeError as exc:
        pytest.fail(str(exc))


@contextlib.contextmanager
def app_server(settings: Settings, log_path: Path, **env_extra: str) -> Iterator[str]:
    """`python app.py` on a free port of 127.0.0.1 over the given corpus and data; yields its URL."""
    env = {"LC_CORPUS_DIR": str(settings.corpus_dir), "LC_DATA_DIR": str(settings.data_dir), **env_extra}
    with log_path.open("w") as log, contextlib.ExitStack() as stack:
        try:
            _, url = stack.enter_context(serving_app(env, log))
        except RuntimeError:
            pytest.fail("L'app non si è avviata: " + log_path.read_text()[-2000:])
        yield url
