"""A GGUF model served by llama.cpp (the `xllamacpp` package): in this process for `LC_LLM=local`, or as a
standalone OpenAI-compatible server (`assistant llm serve`) that `LC_LLM=openai` points at.
"""

from __future__ import annotations

import logging
import socket
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import WriterError

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LocalServer:
    """A running llama.cpp server on 127.0.0.1 (it stops with the process)."""

    server: Any
    port: int
    model_file: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @classmethod
    def start(
        cls, model_file: Path, *, threads: int = 2, context: int = 4096, port: int | None = None, parallel: int = 1
    ) -> LocalServer:
        try:
            import xllamacpp as xlc
        except ImportError:
            raise WriterError(
                "Manca il pacchetto xllamacpp, necessario per LC_LLM=local: installa gli extra con "
                "`.venv/bin/pip install -e '.[llm]'`."
            ) from None
        if not model_file.is_file():
            raise WriterError(f"Il file del modello non esiste: {model_file} (vedi `assistant llm fetch`).")
        params = xlc.CommonParams()
        params.model.path = str(model_file)
        params.n_ctx = context * parallel
        params.n_parallel = parallel
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.port = port or free_port()
        params.verbosity = 1  # warnings and errors only
        started = time.monotonic()
        try:
            server = xlc.Server(params)
        except Exception as exc:
            raise WriterError(f"Il modello {model_file.name} non si avvia: {exc}") from None
        local = cls(server, int(params.port), model_file)
        local.wait_ready()
        log.info("llama.cpp serving %s on %s in %.1f s", model_file.name, local.base_url, time.monotonic() - started)
        return local

    def wait_ready(self, seconds: float = 120) -> None:
        """Until /health answers 200 (the model is loaded)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise WriterError(f"Il server del modello non risponde su 127.0.0.1:{self.port} dopo {seconds:.0f} s.")
