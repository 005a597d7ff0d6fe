"""Handlers of the "Risposte curate" tab, as plain functions: values in, values out, no Gradio import.

Every handler takes a `Desk` (the store, the catalogue, the trainer accounts). Write handlers also take the
`user` behind the session (None when nobody is logged in), refuse non-trainers with an Italian message and
never raise: every problem comes back as `Outcome.message`. The app runs each write through
`as_trainer(sessions, token, write)`, which refuses a missing, ended or expired session ("Sessione scaduta:
accedi di nuovo.") before the write runs. Reading handlers take the `viewer` (`Sessions.trainer(token)`): anyone
else sees approved answers only, never drafts, archived answers or histories. Reading handlers raise only when
the database itself is unreachable. Forms are `CuratedForm` (text fields, as the widgets hold them); choices
for the widgets: `models.CURATED_AUDIENCES`, `models.CURATED_STATUSES`, and `curated.MILAN_THREADS` as
suggested tags (any other tag is accepted).

Setup
    open_desk(settings, catalog, glossary=None) -> Desk       the configured database, citations checked
    as_trainer(sessions, token, write) -> Outcome      runs write(user) for the trainer of a live session
Reading (drafts, archived answers and histories for trainers only)
    search(desk, query="", status=None, tag=None, audience=None, viewer=None) -> list[list[str]]
        rows [id, domanda, stato, pubblico, temi, autore, ultima modifica, revisione] for a Dataframe
    open_answer(desk, answer_id, viewer=None) -> Outcome   form + answer (its `revision` is the edit base)
    history(desk, answer_id, viewer=None) -> list[list[str]]   rows [revisione, data, chi, modifica]
    revision_form(desk, answer_id, number, viewer=None) -> Outcome   an earlier revision, read only
    draft_from_answer(answer, audience, catalog=None) -> CuratedForm   a chat answer, pre-filled (no write)
Writing (trainers only)
    create(desk, user, form) -> Outcome                a new draft
    edit(desk, user, answer_id, base_revision, form) -> Outcome   conflict if someone saved after base
    approve(desk, user, answer_id, base_revision) -> Outcome   never by whoever saved the latest content
    archive(desk, user, answer_id, base_revision) -> Outcome
    restore(desk, user, answer_id, number, base_revision) -> Outcome
    save_chat_answer(desk, user, answer, audience) -> Outcome     "Salva come risposta curata": a draft
Course material (approved answers for everyone, any status for trainers)
    export(desk, fmt, directory, tag=None, audience=None, status="approvata", viewer=None) -> Outcome
`Outcome.ok` False means: show `Outcome.message` with gr.Warning; True: gr.Info.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..auth import Sessions, Trainers, require_trainer
from ..catalog import Catalog
from ..config import Settings
from ..curated import ConflictError, CuratedAnswer, CuratedError, CuratedStore
from ..curated.io import Selection, export_docx, export_json, export_markdown
from ..glossary import Glossary
from ..models import Answer
from ..references import Ref
from ..text import italian_datetime

log = logging.getLogger(__name__)

GENERIC_ERROR = (
    "Operazione non riuscita per un errore imprevisto: riprova; se il problema continua, segnalalo agli amministratori."
)
FORMATS = {"json": "json", "md": "md", "docx": "docx"}
HIDDEN = "bozze, risposte archiviate e revisioni sono visibili solo ai formatori (accedi con le tue credenziali)."


@dataclass(frozen=True)
class Desk:
    """What the curated-answer handlers work on."""

    store: CuratedStore
    catalog: Catalog
    trainers: Trainers


@dataclass(frozen=True)
class CuratedForm:
    """The editor's fields as text: phrasings and citations one per line, tags and terms comma-separated.

    A citation line is `doc_id?article=55&comma=3` (or `doc_id?section=3.1` for guidelines and judgments).
    """

    question: str = ""
    answer: str = ""
    phrasings: str = ""
    citations: str = ""
    glossary_terms: str = ""
    tags: str = ""
    audience: str = "entrambi"
    id: str = ""


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str
    answer: CuratedAnswer | None = None
    form: CuratedForm | None = None
    path: Path | None = None


def open_desk(settings: Settings, catalog: Catalog, glossary: Glossary | None = None) -> Desk:
    """The handlers' context for the configured database (created or migrated) and trainer accounts."""
    ids = frozenset(glossary.entries) if glossary is not None else None
    return Desk(CuratedStore.open(settings.sqlalchemy_url, catalog, ids), catalog, Trainers.from_settings(settings))


def as_trainer(sessions: Sessions, token: str | None, write: Callable[[str], Outcome]) -> Outcome:
    """Run `write(user)` for the trainer of a live session; a missing, ended or expired one gets the reason."""
    try:
        user = sessions.require(token)
    except PermissionError as exc:
        return Outcome(False, str(exc))
    return write(user)


def may_see_all(desk: Desk, viewer: str | None) -> bool:
    """Drafts, archived answers and histories are for trainers; everyone else reads approved answers only."""
    return desk.trainers.is_trainer(viewer)


def to_form(answer: CuratedAnswer) -> CuratedForm:
    return CuratedForm(
        question=answer.question,
        answer=answer.answer,
        phrasings="\n".join(answer.phrasings),
        citations="\n".join(r.key for r in answer.citations),
        glossary_terms=", ".join(answer.glossary_terms),
        tags=", ".join(answer.tags),
        audience=answer.audience,
        id=answer.id,
    )


def _items(value: str, separator: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in re.split(separator, value or "") if item.strip())


def from_form(form: CuratedForm, author: str) -> CuratedAnswer:
    return CuratedAnswer(
        id=form.id.strip(),
        question=form.question,
        answer=form.answer,
        phrasings=_items(form.phrasings, r"\n"),
        citations=tuple(Ref.from_key(line) for line in _items(form.citations, r"\n")),
        glossary_terms=_items(form.glossary_terms, r"[,\n]"),
        tags=_items(form.tags, r"[,\n]"),
        audience=form.audience,
        author=author,
    )


def _write(desk: Desk, user: str | None, action: Callable[[str], CuratedAnswer], done: str) -> Outcome:
    """Run a write as `user`: refused for non-trainers; store errors (conflicts too) become the message."""
    try:
        trainer = require_trainer(user, desk.trainers)
        saved = action(trainer)
    except (PermissionError, ConflictError, CuratedError) as exc:
        current = exc.current if isinstance(exc, ConflictError) else None
        return Outcome(False, str(exc), current, to_form(current) if current else None)
    except Exception as exc:  # one log line for operators, a plain message for the trainer
        log.error("curated write failed: %s: %s", type(exc).__name__, exc)
        return Outcome(False, GENERIC_ERROR)
    return Outcome(True, done.format(id=saved.id, revision=saved.revision, status=saved.status), saved, to_form(saved))


# --- reading -----------------------------------------------------------------------------------------------


def search(
    desk: Desk,
    query: str = "",
    status: str | None = None,
    tag: str | None = None,
    audience: str | None = None,
    viewer: str | None = None,
) -> list[list[str]]:
    if not may_see_all(desk, viewer):
        if status and status != "approvata":
            return []
        status = "approvata"
    found = desk.store.find(status=status or None, tag=tag or None, audience=audience or None, query=query or None)
    return [
        [
            a.id,
            a.question,
            a.status,
            a.audience,
            ", ".join(a.tags),
            a.author,
            italian_datetime(a.updated_at),
            str(a.revision),
        ]
        for a in found
    ]


def open_answer(desk: Desk, answer_id: str, viewer: str | None = None) -> Outcome:
    answer = desk.store.get(answer_id)
    if not may_see_all(desk, viewer) and (answer is None or answer.status != "approvata"):
        # the same words whether the id is unknown or a draft: visitors learn nothing about drafts
        return Outcome(False, f"Nessuna risposta approvata con id {answer_id!r}: {HIDDEN}")
    if answer is None:
        return Outcome(False, f"Nessuna risposta curata con id {answer_id!r}.")
    return Outcome(
        True, f"Risposta {answer.id!r}, revisione {answer.revision} ({answer.status}).", answer, to_form(answer)
    )


def history(desk: Desk, answer_id: str, viewer: str | None = None) -> list[list[str]]:
    if not may_see_all(desk, viewer):
        return []
    return [
        [str(r.number), italian_datetime(r.saved_at), r.saved_by, r.change] for r in desk.store.revisions(answer_id)
    ]


def revision_form(desk: Desk, answer_id: str, number: int, viewer: str | None = None) -> Outcome:
    if not may_see_all(desk, viewer):
        return Outcome(False, f"Le revisioni precedenti sono visibili solo ai formatori: {HIDDEN}")
    try:
        old = desk.store.revision(answer_id, int(number))
    except (CuratedError, ValueError) as exc:
        return Outcome(False, str(exc))
    return Outcome(
        True,
        f"Revisione {old.number} del {italian_datetime(old.saved_at)} ({old.saved_by}): {old.change}.",
        old.snapshot,
        to_form(old.snapshot),
    )


def draft_from_answer(answer: Answer, audience: str = "entrambi", catalog: Catalog | None = None) -> CuratedForm:
    """Pre-fill the editor from a chat answer: question, text without the sources list, its citations.

    A passage outside an article is cited by its own label ("Fatto, § 2") when the catalogue knows it, so the
    draft cites that paragraph rather than the whole section.
    """
    body = answer.answer.split("\n**Fonti**", 1)[0].strip()
    refs = []
    for cited in answer.citations:
        chunk = catalog.by_id.get(cited.chunk_id) if catalog is not None else None
        section = None if cited.article else ((chunk.label if chunk else None) or cited.section)
        refs.append(Ref(cited.doc_id, cited.article, cited.comma, section))
    return CuratedForm(
        question=answer.query,
        answer=body,
        citations="\n".join(dict.fromkeys(r.key for r in refs)),
        glossary_terms=", ".join(g.id for g in answer.glossary_terms),
        audience=audience if audience in ("funzionario", "operatore", "entrambi") else "entrambi",
    )


# --- writing -----------------------------------------------------------------------------------------------


def create(desk: Desk, user: str | None, form: CuratedForm) -> Outcome:
    return _write(
        desk,
        user,
        lambda who: desk.store.create(from_form(form, who), who),
        "Bozza {id!r} salvata (revisione {revision}).",
    )


def edit(desk: Desk, user: str | None, answer_id: str, base_revision: int, form: CuratedForm) -> Outcome:
    def action(who: str) -> CuratedAnswer:
        edited = from_form(form, who)
        return desk.store.update(replace(edited, id=answer_id), who, int(base_revision))

    return _write(desk, user, action, "Risposta {id!r} salvata (revisione {revision}, {status}).")


def approve(desk: Desk, user: str | None, answer_id: str, base_revision: int) -> Outcome:
    return _write(
        desk,
        user,
        lambda who: desk.store.approve(
            answer_id, who, int(base_revision), forbid_self_approval=desk.trainers.forbid_self_approval
        ),
        "Risposta {id!r} approvata (revisione {revision}): da ora è servita in chat.",
    )


def archive(desk: Desk, user: str | None, answer_id: str, base_revision: int) -> Outcome:
    return _write(
        desk,
        user,
        lambda who: desk.store.archive(answer_id, who, int(base_revision)),
        "Risposta {id!r} archiviata (revisione {revision}): non è più servita in chat.",
    )


def restore(desk: Desk, user: str | None, answer_id: str, number: int, base_revision: int) -> Outcome:
    return _write(
        desk,
        user,
        lambda who: desk.store.restore(answer_id, int(number), who, int(base_revision)),
        "Ripristinata come revisione {revision} ({status}).",
    )


def save_chat_answer(desk: Desk, user: str | None, answer: Answer, audience: str = "entrambi") -> Outcome:
    """The "Salva come risposta curata" button: a draft pre-filled from the chat answer, for a trainer to edit."""
    if answer.refused:
        return Outcome(False, "Una risposta di rifiuto non si può salvare come risposta curata.")
    return create(desk, user, draft_from_answer(answer, audience, desk.catalog))


# --- course material -----------------------------------------------------------------------------------------


def export(
    desk: Desk,
    fmt: str,
    directory: Path,
    tag: str | None = None,
    audience: str | None = None,
    status: str | None = "approvata",
    viewer: str | None = None,
) -> Outcome:
    """Write the selection to `directory` as risposte-curate.<json|md|docx>; `path` is the file to download."""
    if fmt not in FORMATS:
        return Outcome(False, f"Formato non valido: {fmt!r} (usa json, md oppure docx).")
    if status != "approvata" and not may_see_all(desk, viewer):
        return Outcome(False, f"Si possono esportare solo le risposte approvate: {HIDDEN}")
    selection = Selection(tag or None, audience or None, status or None)
    answers = selection.pick(desk.store)
    if not answers:
        return Outcome(False, f"Nessuna risposta curata da esportare ({selection.describe()}).")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"risposte-curate.{FORMATS[fmt]}"
    try:
        if fmt == "docx":
            export_docx(answers, desk.catalog, path, selection)
        else:
            body = export_json(answers) if fmt == "json" else export_markdown(answers, desk.catalog, selection)
            path.write_text(body, encoding="utf-8")
    except OSError as exc:
        return Outcome(False, f"Impossibile scrivere {path}: {exc.strerror}.")
    return Outcome(True, f"Esportate {len(answers)} risposte curate ({selection.describe()}).", path=path)
