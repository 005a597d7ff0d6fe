"""Documents added to the shared index from outside the corpus: uploads through the app and `assistant ingest PATH`.

What is checked before anything changes:
- a document never takes the id of a corpus document (it would replace the law's passages for everyone);
- a name already used by an earlier upload is replaced only when asked, and a failed replacement keeps the
  earlier file and its passages (the new file is indexed as a new generation, switched in only on success);
- size, PDF pages, DOCX decompression ratio and the uploads folder's quota, each refused with its reason;
- the file must parse into passages before it is stored.

Uploads run one at a time in a background worker (`UploadQueue`), so a request never waits for an index build.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bank import GENERATED_BANK_DIR
from .config import Settings
from .errors import UserError
from .index import current_catalog
from .ingest import ingest
from .legal import chunk_file
from .loaders import LoadError
from .manifest import corpus_files, document_info, infer_info, load_manifest
from .models import KIND_FOLDERS, KINDS, SUPPORTED_SUFFIXES, DocumentInfo
from .shared import ingest_job
from .text import safe_filename

log = logging.getLogger(__name__)

MB = 1024 * 1024
WORK_DIRS = (".staging", ".backup")  # inside data/uploads, never indexed (names starting with a dot are skipped)


class UploadError(UserError, ValueError):
    """An upload refused before anything changed; the Italian message says why and what to do."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_pages: int
    max_ratio: float
    quota_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            settings.max_upload_mb * MB,
            settings.max_upload_pages,
            settings.max_upload_ratio,
            settings.uploads_quota_mb * MB,
        )


def screen(path: Path, limits: Limits, used_bytes: int = 0, freed_bytes: int = 0) -> None:
    """Refuse a file that breaks a limit: format, size, quota, PDF pages, DOCX decompression ratio."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UploadError(
            f"formato non supportato ({suffix or 'senza estensione'}): sono accettati PDF, DOCX, TXT e MD."
        )
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise UploadError(f"il file supera il limite di {limits.max_bytes // MB} MB ({size / MB:.1f} MB).")
    if used_bytes - freed_bytes + size > limits.quota_bytes:
        raise UploadError(
            f"lo spazio per i documenti caricati è esaurito ({used_bytes / MB:.1f} MB usati su "
            f"{limits.quota_bytes // MB} MB): rimuovi documenti non più necessari."
        )
    if suffix == ".pdf":
        pages = _pdf_pages(path)
        if pages > limits.max_pages:
            raise UploadError(
                f"il PDF ha {pages} pagine: il limite è {limits.max_pages}. Carica solo la parte che serve."
            )
    if suffix == ".docx":
        expanded = _docx_expanded_bytes(path)
        if expanded > limits.max_ratio * max(size, 1) or expanded > limits.max_ratio * limits.max_bytes:
            raise UploadError(
                f"il file DOCX si espande a {expanded / MB:.0f} MB ({expanded / max(size, 1):.0f} volte la sua "
                f"dimensione, limite {limits.max_ratio:.0f}): non viene aperto."
            )


def _pdf_pages(path: Path) -> int:
    from pypdf import PdfReader

    try:
        return len(PdfReader(str(path)).pages)
    except Exception as exc:  # pypdf raises many types on broken files
        log.warning("upload refused, unreadable PDF %s: %r", path, exc)
        raise UploadError("il PDF è danneggiato o non è un PDF valido.") from None


def _docx_expanded_bytes(path: Path) -> int:
    try:
        with zipfile.ZipFile(path) as archive:
            return sum(item.file_size for item in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        log.warning("upload refused, unreadable DOCX %s: %r", path, exc)
        raise UploadError("il file DOCX è danneggiato o non valido.") from None


def uploads_size(uploads_dir: Path) -> int:
    """Bytes the stored uploads take (work folders excluded)."""
    if not uploads_dir.is_dir():
        return 0
    return sum(p.stat().st_size for p in uploads_dir.rglob("*") if p.is_file() and not _in_work_dir(p, uploads_dir))


def _in_work_dir(path: Path, uploads_dir: Path) -> bool:
    return path.relative_to(uploads_dir).parts[0] in WORK_DIRS


def corpus_ids(settings: Settings) -> set[str]:
    """The ids of the corpus documents (listed in the manifest or lying in corpus/)."""
    manifest = load_manifest(settings.corpus_dir)
    return set(manifest.documents) | {
        document_info(p, manifest).doc_id for p in corpus_files(settings.corpus_dir, manifest)
    }


def earlier_document(settings: Settings, doc_id: str, target: Path) -> Path | None:
    """The file of a document added earlier (not from the corpus) with this id, when it is not `target` itself."""
    catalog = current_catalog(settings)
    info = catalog.document(doc_id) if catalog else None
    if info is None or info.in_manifest:
        return None
    earlier = Path(info.path)
    return earlier if earlier.resolve() != target.resolve() else None


def check_extra(settings: Settings, path: Path, replace: bool) -> Path | None:
    """The rule for any document added from outside the corpus: never a corpus document's id; an earlier
    document's id only with `replace`. Returns the earlier document's file when it will be replaced."""
    doc_id = infer_info(path).doc_id
    if doc_id in corpus_ids(settings):
        raise UploadError(
            f"il nome {path.name!r} corrisponde al documento del corpus {doc_id!r}: un documento caricato non può "
            "sostituire il corpus. Rinomina il file."
        )
    earlier = earlier_document(settings, doc_id, path)
    if earlier is not None and not replace:
        raise UploadError(
            f"esiste già un documento caricato con il nome {doc_id!r} ({earlier.name}): per sostituirlo scegli "
            "«Sostituisci i documenti con lo stesso nome», altrimenti rinomina il file."
        )
    return earlier


def add_upload(
    settings: Settings, source: Path, kind: str, replace: bool = False, writer: Any = None, actor: str = ""
) -> str:
    """Check, store and index one uploaded file; its doc id. UploadError (nothing changed) when refused.

    With the store on a server, this runs as one job of the instances' shared lock (shared.py): the checks see
    every instance's uploads, and the file is recorded in the shared database with the generation that indexes it.
    With a model `writer` and `llm_bank_questions` > 0, the model then proposes bank questions for it (bankgen)."""
    if kind not in KINDS:
        raise UploadError(f"tipo di documento non valido: {kind!r}.")
    with ingest_job(settings, actor) as shared:
        doc_id, target = _add_upload(settings, source, kind, replace)
        if shared is not None:
            shared.record(actor or "?", "caricamento", doc_id, f"{kind}: {target.name}")
    if writer is not None and writer.name != "extractive" and settings.llm_bank_questions > 0:
        generate_bank_questions(settings, doc_id, target, kind, writer)
    return doc_id


def _add_upload(settings: Settings, source: Path, kind: str, replace: bool) -> tuple[str, Path]:
    uploads = settings.uploads_dir
    name = safe_filename(source.name)
    target = uploads / KIND_FOLDERS[kind] / name
    earlier = check_extra(settings, target, replace)
    if earlier is None and target.exists():  # the same name in the same folder: a replacement too
        if not replace:
            raise UploadError(
                f"esiste già un documento caricato con il nome {target.name!r}: per sostituirlo scegli "
                "«Sostituisci i documenti con lo stesso nome», altrimenti rinomina il file."
            )
        earlier = target
    freed = earlier.stat().st_size if earlier is not None and earlier.exists() else 0
    screen(source, Limits.from_settings(settings), uploads_size(uploads), freed)

    staging = uploads / ".staging" / uuid.uuid4().hex
    staging.mkdir(parents=True)
    try:
        staged = staging / name
        shutil.copyfile(source, staged)
        info = infer_info(staged, kind=kind)
        try:
            chunks = chunk_file(staged, info, settings.corpus_dir, load_manifest(settings.corpus_dir).aliases)
        except LoadError as exc:
            log.warning("upload refused, %s: %s", source.name, exc.detail)
            raise UploadError(exc.reason) from None
        if not chunks:
            raise UploadError("nessun testo utilizzabile dopo l'analisi.")
        _store_and_index(settings, staged, target, earlier, kind)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return info.doc_id, target


def generate_bank_questions(settings: Settings, doc_id: str, target: Path, kind: str | None, writer: Any) -> int:
    """Model-written bank questions for an indexed upload, then the bank re-synced; how many were kept. A failure
    is one log line: the upload stands without them."""
    from .writers.bankgen import generate, generated_dir, write_bank_file

    try:
        catalog = current_catalog(settings)
        chunks = [c for c in catalog.chunks if c.doc_id == doc_id] if catalog else []
        entries = generate(writer.chat_model(), chunks, settings.llm_bank_questions)
        write_bank_file(generated_dir(settings) / f"{doc_id}.yaml", doc_id, writer.model_label, entries)
        if entries:
            ingest(settings, path=target, kind=kind)  # the passages are unchanged: only the bank is synced
    except Exception as exc:
        log.warning("bank questions for %s not generated: %s: %s", doc_id, type(exc).__name__, str(exc)[:200])
        return 0
    count = sum(len(questions) for _, questions in entries)
    log.info("bank: %d questions generated by %s for %s", count, writer.model_label, doc_id)
    return count


def _store_and_index(settings: Settings, staged: Path, target: Path, earlier: Path | None, kind: str) -> None:
    """Put the file in place and index it; on any failure the earlier file comes back (the index is unchanged:
    a failed ingest never switches its generation)."""
    backup: Path | None = None
    if earlier is not None and earlier.exists():
        backup = settings.uploads_dir / ".backup" / f"{uuid.uuid4().hex}-{earlier.name}"
        backup.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(earlier, backup)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(staged, target)
    try:
        report = ingest(settings, path=target, kind=kind)
        if report.skipped:
            raise UploadError(report.skipped[0].reason)
    except BaseException:
        target.unlink(missing_ok=True)
        if backup is not None and earlier is not None:
            shutil.move(backup, earlier)
        raise
    if backup is not None:
        backup.unlink(missing_ok=True)


def remove_extra(settings: Settings, info: DocumentInfo, actor: str = "") -> None:
    """Remove an uploaded document's file and passages; a failed ingest puts the file back."""
    with ingest_job(settings, actor) as shared:
        _remove_extra(settings, info)
        if shared is not None:
            shared.record(actor or "?", "rimozione", info.doc_id, info.title)


def _remove_extra(settings: Settings, info: DocumentInfo) -> None:
    path = Path(info.path)
    uploads = settings.uploads_dir.resolve()
    if info.in_manifest or not path.is_absolute() or not path.resolve().is_relative_to(uploads):
        raise UploadError(f"Il documento {info.title!r} fa parte del corpus: si rimuove dal repository, non dall'app.")
    backup = settings.uploads_dir / ".backup" / f"{uuid.uuid4().hex}-{path.name}"
    backup.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        shutil.move(path, backup)
    (settings.data_dir / GENERATED_BANK_DIR / f"{info.doc_id}.yaml").unlink(missing_ok=True)
    try:
        ingest(settings, path=settings.uploads_dir)
    except BaseException:
        if backup.exists():
            shutil.move(backup, path)
        raise
    backup.unlink(missing_ok=True)


# --- the background worker ---------------------------------------------------------------------------


@dataclass
class FileStatus:
    file: str
    status: str = "in attesa"  # "in attesa" | "in corso" | "indicizzato" | "scartato"
    reason: str = ""


@dataclass
class UploadJob:
    id: str
    user: str
    kind: str
    replace: bool
    paths: list[Path]
    files: list[FileStatus] = field(default_factory=list)
    done: bool = False
    started: float = field(default_factory=time.time)

    def rows(self) -> list[list[str]]:
        return [[f.file, f.status, f.reason] for f in self.files]

    @property
    def progress(self) -> str:
        finished = sum(f.status in ("indicizzato", "scartato") for f in self.files)
        if self.done:
            return f"Caricamento completato: {finished} file su {len(self.files)}."
        return f"Indicizzazione in corso: {finished} file su {len(self.files)} completati…"


class UploadQueue:
    """One worker thread indexes uploads in order; requests only enqueue and read the status."""

    def __init__(self, settings: Settings, on_done: Callable[[bool], None], writer: Any = None) -> None:
        """`on_done(indexed)` runs after each job (reload the index when something was indexed); a model `writer`
        may propose bank questions for each upload (`llm_bank_questions`)."""
        self._settings = settings
        self._writer = writer
        self._on_done = on_done
        self._jobs: dict[str, UploadJob] = {}
        self._pending: list[UploadJob] = []
        self._lock = threading.Condition()
        self._worker: threading.Thread | None = None

    def submit(self, user: str, paths: list[Path], kind: str, replace: bool) -> UploadJob:
        """Copy the request's temporary files aside and queue them; the job's id lets the page poll its status."""
        job = UploadJob(uuid.uuid4().hex, user, kind, replace, [])
        inbox = self._settings.uploads_dir / ".staging" / f"job-{job.id}"
        inbox.mkdir(parents=True, exist_ok=True)
        for path in paths:
            name = safe_filename(path.name)
            copy = inbox / name
            if copy.exists():
                job.files.append(
                    FileStatus(name, "scartato", "lo stesso nome compare due volte in questo caricamento.")
                )
                continue
            try:
                shutil.copyfile(path, copy)
            except OSError as exc:
                log.warning("upload %s unreadable: %s", path, exc)
                job.files.append(FileStatus(name, "scartato", "il file non è leggibile."))
                continue
            job.paths.append(copy)
            job.files.append(FileStatus(name))
        with self._lock:
            self._jobs[job.id] = job
            self._pending.append(job)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="lc-uploads", daemon=True)
                self._worker.start()
            self._lock.notify()
        log.info("upload job %s by %s: %d files", job.id, user, len(job.paths))
        return job

    def job(self, job_id: str | None) -> UploadJob | None:
        with self._lock:
            return self._jobs.get(job_id or "")

    def wait(self, job_id: str, timeout: float = 600.0) -> UploadJob:
        """Block until the job is done (for the command line and tests)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not self._jobs[job_id].done:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"upload job {job_id} still running after {timeout:.0f} s")
                self._lock.wait(remaining)
            return self._jobs[job_id]

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending:
                    self._lock.wait(30)
                    if not self._pending:
                        self._worker = None
                        return
                job = self._pending.pop(0)
            self._process(job)
            with self._lock:
                job.done = True
                self._lock.notify_all()

    def _process(self, job: UploadJob) -> None:
        indexed = False
        waiting = {f.file: f for f in job.files if f.status == "in attesa"}
        for path in job.paths:
            status = waiting[path.name]
            status.status = "in corso"
            try:
                add_upload(self._settings, path, job.kind, job.replace, self._writer, job.user)
                status.status, indexed = "indicizzato", True
            except UploadError as exc:
                status.status, status.reason = "scartato", str(exc)
                log.warning("upload %s by %s refused: %s", path.name, job.user, exc)
            except Exception as exc:  # an unexpected failure: reported, the next files still run
                status.status, status.reason = "scartato", f"errore durante l'indicizzazione ({type(exc).__name__})."
                log.exception("upload %s by %s failed", path.name, job.user)
        shutil.rmtree(self._settings.uploads_dir / ".staging" / f"job-{job.id}", ignore_errors=True)
        self._on_done(indexed)
