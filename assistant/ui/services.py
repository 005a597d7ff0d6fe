"""What the UI needs at run time, shared by every session: the assistant (reloaded after an upload),
feedback, curated answers, and who may write."""

from __future__ import annotations

import logging
import threading
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
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(cls, settings: Settings, assistant: Assistant | None = None) -> Services:
        services = cls(settings)
        if assistant is not None:
            services.assistant = assistant
            services.writer = assistant.writer
        else:
            services.writer = make_writer(settings)
            log.info("answers written by %s", services.writer.describe())
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
            self.desk = Desk(self.curated.store, catalog, Trainers.from_settings(self.settings))
        except Exception as exc:  # the chat works without curated answers
            log.error("curated answers unavailable: %s", exc)
            return
        if self.assistant.curated is None:
            self.assistant.curated = self.curated

    def after_upload(self, indexed: bool) -> None:
        """After an upload job: the new index when something was indexed; the job's memory back to the system."""
        if indexed:
            self.reload()
        else:
            release_memory()

    def reload(self) -> None:
        """Reopen the index (after an upload or removal); the old assistant serves until the new one is ready."""
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
