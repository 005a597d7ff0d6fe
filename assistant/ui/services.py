"""What the UI needs at run time, shared by every session: the assistant (reloaded after an upload),
feedback, curated answers, and who may write."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..answer import Assistant
from ..config import Settings
from ..curated.feedback import FeedbackStore
from ..store import StoreError
from ..uploads import UploadQueue
from ..writers import Writer, make_writer

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    assistant: Assistant | None = None
    unavailable: str = ""
    feedback: FeedbackStore | None = None
    curated: Any = None  # assistant.curated.match.CuratedMatcher: served first in the chat
    desk: Any = None  # assistant.ui.curated_handlers.Desk: the "Risposte curate" tab
    uploads: UploadQueue | None = None  # indexes trainers' uploads in the background, then reloads
    writer: Writer | None = None  # who writes answers (LC_LLM); kept across reloads (a local model loads once)
    shared: Any = None  # assistant.shared.SharedState when the store is a server (several instances)
    caught_up_at: float = 0.0  # when this instance last matched the shared generation (time.time)
    loaded_version: int = -1  # the shared generation the loaded assistant reflects
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def start(cls, settings: Settings, assistant: Assistant | None = None) -> Services:
        services = cls(settings)
        if assistant is not None:
            services.assistant = assistant
            services.writer = assistant.writer
        else:
            services.writer = make_writer(settings)
            log.info("answers written by %s", services.writer.describe())
            if settings.store == "server":
                services._join_cluster()
            services.reload()
        services._open_curated()
        services.uploads = UploadQueue(settings, services.after_upload, services.writer)
        try:
            services.feedback = FeedbackStore(settings)
        except Exception as exc:  # a database problem must not take the chat down
            log.error("feedback store unavailable: %s", exc)
        return services

    def _open_curated(self) -> None:
        if self.assistant is None:
            return
        try:
            from ..auth import Trainers
            from ..curated.match import CuratedMatcher
            from .curated_handlers import Desk

            catalog, glossary = self.assistant.retriever.catalog, self.assistant.glossary
            self.curated = CuratedMatcher.open(self.settings, catalog, glossary)
            self.curated.refresh()  # embedded now, not during the first user's question (a new instance's cache)
            self.desk = Desk(self.curated.store, catalog, Trainers.from_settings(self.settings))
        except Exception as exc:  # the chat works without curated answers
            log.error("curated answers unavailable: %s", exc)
            return
        if self.assistant.curated is None:
            self.assistant.curated = self.curated

    def _join_cluster(self) -> None:
        """Several instances over one store: catch up with the shared generation now, then every `sync_seconds`."""
        from ..shared import SharedState, ingest_job

        try:
            self.shared = SharedState.open(self.settings)
            with ingest_job(self.settings):  # catches up under the shared lock
                pass
            self.caught_up_at = time.time()
        except Exception as exc:  # the database may come later: the watcher retries
            log.error("shared state unavailable at start-up: %s", exc)
        threading.Thread(target=self._watch, name="lc-sync", daemon=True).start()

    def _watch(self) -> None:
        """Poll the shared generation; when another instance (or a command on this data folder) published one,
        catch up and reload."""
        from ..shared import IngestBusy, SharedState, catch_up, seen_version

        while not self._stop.wait(self.settings.sync_seconds):
            try:
                if self.shared is None:
                    self.shared = SharedState.open(self.settings)
                version, _ = self.shared.version()
                if version != self.loaded_version:
                    if version != seen_version(self.settings):
                        with self.shared.ingest_lock(self.settings.sync_seconds):
                            catch_up(self.settings, self.shared)
                    self.reload()
                self.caught_up_at = time.time()
            except IngestBusy:
                log.info("catch-up postponed: another instance is ingesting")
            except Exception as exc:  # a database or store hiccup: one line, retried next time
                log.error("catch-up with the shared generation failed: %s: %s", type(exc).__name__, exc)

    def stop(self) -> None:
        self._stop.set()

    def health(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body) of /health: 200 when this instance can answer, 503 otherwise."""
        from .. import generations
        from ..shared import instance_name, seen_version

        assistant = self.assistant
        body: dict[str, Any] = {
            "status": "ok" if assistant is not None else "unavailable",
            "instance": instance_name(self.settings),
            "store": self.settings.store,
            "generation": {"local": generations.current(self.settings.index_dir).name},
        }
        if assistant is not None:
            catalog = assistant.retriever.catalog
            body["documents"], body["passages"] = len(catalog.documents), len(catalog.chunks)
        else:
            body["reason"] = self.unavailable
        if self.shared is not None:
            try:
                version, name = self.shared.version()
                body["generation"].update({"shared": version, "shared_name": name})
            except Exception as exc:
                body["generation"]["shared_error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
            body["generation"]["seen"] = seen_version(self.settings)
            body["generation"]["loaded"] = self.loaded_version
            body["generation"]["checked_seconds_ago"] = round(time.time() - self.caught_up_at, 1)
        return (200 if assistant is not None else 503), body

    def after_upload(self, indexed: bool) -> None:
        """After an upload job: the new index when something was indexed; the job's memory back to the system."""
        if indexed:
            self.reload()
        else:
            release_memory()

    def reload(self) -> None:
        """Reopen the index (after an upload or removal); the old assistant serves until the new one is ready."""
        if self.settings.store == "server":
            from ..shared import seen_version

            self.loaded_version = seen_version(self.settings)
        try:
            fresh = Assistant.load(self.settings, self.curated, self.writer)
        except StoreError as exc:
            log.error("index unavailable: %s", exc)
            with self._lock:
                self.unavailable = str(exc)
            return
        if self.curated is not None:  # citations of curated answers resolve against the new catalogue
            self.curated.catalog = self.curated.store.catalog = fresh.retriever.catalog
            if self.desk is not None:
                from dataclasses import replace

                self.desk = replace(self.desk, catalog=fresh.retriever.catalog)
        with self._lock:
            self.assistant, self.unavailable = fresh, ""
        release_memory()


def release_memory() -> None:
    """After a reload the previous index is garbage: collect it and give the freed pages back to the system, so a
    long-running app that reloads after every upload does not grow (glibc keeps freed memory otherwise)."""
    import contextlib
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: the collector alone
        ctypes.CDLL("libc.so.6").malloc_trim(0)
