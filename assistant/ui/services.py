"""What the UI needs at run time, shared by every session: the assistant (reloaded after an upload),
feedback, curated answers, and who may write."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from ..answer import Assistant
from ..config import Settings
from ..feedback import FeedbackStore
from ..store import StoreError

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    assistant: Assistant | None = None
    unavailable: str = ""
    feedback: FeedbackStore | None = None
    curated: Any = None  # assistant.curated store when available
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(cls, settings: Settings, assistant: Assistant | None = None) -> Services:
        services = cls(settings)
        services.curated = _curated_store(settings)
        if assistant is not None:
            services.assistant = assistant
            if services.curated is not None and assistant.curated is None:
                assistant.curated = services.curated
        else:
            services.reload()
        try:
            services.feedback = FeedbackStore(settings)
        except Exception as exc:  # a database problem must not take the chat down
            log.error("feedback store unavailable: %s", exc)
        return services

    def reload(self) -> None:
        """Reopen the index (after an upload or removal); the old assistant serves until the new one is ready."""
        try:
            fresh = Assistant.load(self.settings, self.curated)
        except StoreError as exc:
            log.error("index unavailable: %s", exc)
            with self._lock:
                self.unavailable = str(exc)
            return
        with self._lock:
            self.assistant, self.unavailable = fresh, ""

    @property
    def lock(self) -> threading.Lock:
        return self._lock


def _curated_store(settings: Settings) -> Any:
    try:
        from ..curated import CuratedStore  # type: ignore[attr-defined]
    except ImportError:
        return None
    try:
        return CuratedStore.open(settings)  # type: ignore[attr-defined]
    except Exception as exc:
        log.error("curated answers unavailable: %s", exc)
        return None
