"""`assistant llm check | serve | fetch`: which writer answers, a local llama.cpp server, pinned model files."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
import time
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import CliError
from ..text import printable
from ..writers import make_writer
from ..writers.weights import WEIGHTS, fetch


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    """Which writer is configured and, for a model, whether it answers (one real short request)."""
    writer = make_writer(settings)
    print(printable(f"Scrittore delle risposte: {writer.describe()}"))
    if writer.name == "extractive":
        return 0
    started = time.monotonic()
    try:
        reply = writer.probe()
    except Exception as exc:
        raise CliError(
            f"il modello non risponde ({type(exc).__name__}: {str(exc)[:160]}). Le risposte saranno estrattive, "
            "con una nota che lo dice."
        ) from None
    print(printable(f"Il modello risponde in {time.monotonic() - started:.1f} s: «{reply[:80]}»"))
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """A GGUF file served as an OpenAI-compatible server on 127.0.0.1 until Ctrl+C (or SIGTERM)."""
    from ..writers.local import LocalServer

    model = Path(args.model) if args.model else fetch_path(settings, args.name)
    server = LocalServer.start(
        model,
        threads=args.threads or settings.llm_threads,
        context=settings.llm_context,
        port=args.port,
        parallel=args.parallel,
    )
    print(f"Modello {model.name} in ascolto: LC_LLM=openai LC_LLM_BASE_URL={server.base_url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    return 0


def fetch_path(settings: Settings, name: str) -> Path:
    path = settings.models_dir / WEIGHTS[name].filename
    if not path.is_file():
        raise CliError(f"il modello {name} non è stato scaricato: esegui `assistant llm fetch {name}`.")
    return path


def cmd_fetch(args: argparse.Namespace, settings: Settings) -> int:
    spec = WEIGHTS[args.name]
    path = fetch(args.name, settings.models_dir)
    print(f"{path} ({spec.licence}; sha256 {spec.sha256[:12]}… verificato)")
    return 0


def register(sub: Any) -> None:
    llm = sub.add_parser("llm", help="modello linguistico opzionale (LC_LLM)")
    verbs = llm.add_subparsers(dest="llm_command", required=True)
    p = verbs.add_parser("check", help="quale scrittore risponde, e se il modello risponde")
    p.set_defaults(func=cmd_check)
    p = verbs.add_parser("serve", help="serve un file GGUF come server compatibile OpenAI su 127.0.0.1")
    p.add_argument("--model", help="file GGUF (predefinito: il modello scaricato con --name)")
    p.add_argument("--name", choices=list(WEIGHTS), default="qwen2.5-coder-1.5b")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--parallel", type=int, default=1, help="richieste servite insieme")
    p.set_defaults(func=cmd_serve)
    p = verbs.add_parser("fetch", help="scarica un modello dai pacchetti fissati e ne verifica lo sha256")
    p.add_argument("name", choices=list(WEIGHTS))
    p.set_defaults(func=cmd_fetch)
