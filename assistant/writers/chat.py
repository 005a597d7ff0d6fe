"""Model writers (`openai`, `ollama`, `local`): stream the answer, guard each sentence, fall back when it fails.

The model's tokens are read on a worker thread so that the whole answer has a deadline (`llm_timeout`), whatever
the server does. Each sentence goes through the guard as soon as it is complete: a kept sentence is yielded (the
chat shows it), a dropped one is recorded with its reason. The answer falls back to the extractive one, with a
one-line note, when the writer errs or times out, says the passages do not answer, or loses its point: no sentence
kept, its opening sentence dropped, or more sentences dropped than kept.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

from ..citations import quoted_passages, source_lines
from ..config import Settings
from ..models import Answer, GuardReport
from ..prompts import render, text
from ..text import fold, inert_markdown
from . import Draft, Piece, WriterError
from .guard import MARKER, Guard, Passage, SentenceStream, Verdict
from .prompt import instructions, messages

log = logging.getLogger(__name__)

OLLAMA_URL = "http://127.0.0.1:11434"


class _Abort(Exception):
    """The guard decided the answer lost its point: stop reading the model."""


class ChatWriter:
    """A LangChain chat model behind the guard. The model is built at first use, once."""

    def __init__(self, settings: Settings, grammar: str | None = None) -> None:
        """`grammar`: a fixed llama.cpp GBNF grammar instead of the cited-lines one (the tests force a known
        answer through a real server with it)."""
        self.settings = settings
        self.grammar = grammar
        self.name: str = settings.llm
        self._model: Any = None
        self._lock = threading.Lock()
        self._server: Any = None

    @property
    def model_label(self) -> str:
        if self.name == "local" and self.settings.llm_model_file is not None:
            return self.settings.llm_model_file.name
        return self.settings.llm_model or "predefinito del server"

    def describe(self) -> str:
        if self.name == "openai":
            return f"openai: modello {self.model_label} su {self.settings.llm_base_url}"
        if self.name == "ollama":
            return f"ollama: modello {self.model_label} su {self.settings.llm_base_url or OLLAMA_URL}"
        return (
            f"local: {self.model_label} eseguito in questo processo da xllamacpp ({self.settings.llm_threads} thread)"
        )

    def chat_model(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = self._build()
            return self._model

    def _build(self) -> Any:
        s = self.settings
        if self.name == "ollama":
            try:
                from langchain_ollama import ChatOllama
            except ImportError:
                raise WriterError(_missing("langchain-ollama")) from None
            return ChatOllama(
                model=s.llm_model,
                base_url=s.llm_base_url or OLLAMA_URL,
                temperature=s.llm_temperature,
                num_predict=s.llm_max_tokens,
                client_kwargs={"timeout": s.llm_timeout},
            )
        try:
            from langchain_openai import ChatOpenAI
        except ImportError:
            raise WriterError(_missing("langchain-openai")) from None
        base_url = s.llm_base_url
        if self.name == "local":
            from .local import LocalServer

            assert s.llm_model_file is not None  # checked by Settings
            self._server = LocalServer.start(s.llm_model_file, threads=s.llm_threads, context=s.llm_context)
            base_url = self._server.base_url
        return ChatOpenAI(
            base_url=base_url,
            api_key=s.llm_api_key or "nessuna",  # type: ignore[arg-type]
            model=s.llm_model or "default",
            temperature=s.llm_temperature,
            max_completion_tokens=s.llm_max_tokens,
            timeout=s.llm_timeout,
            max_retries=0,
        )

    def probe(self) -> str:
        limit = {} if self.name == "ollama" else {"max_tokens": 8}  # ChatOllama takes num_predict, set at build
        reply = self.chat_model().invoke([("human", "Rispondi soltanto con la parola: pronto")], **limit)
        return str(reply.content).strip()

    # Writing one answer --------------------------------------------------------------------------------------
    def write(self, draft: Draft) -> Iterator[Piece]:
        s = self.settings
        rules = instructions(draft.audience)
        guard = Guard(
            draft.passages,
            draft.glossary,
            question=draft.question,
            documents=draft.catalog.documents,
            instructions=rules,
            support_floor=s.llm_support_floor,
        )
        verdicts: list[Verdict] = []
        numbers: dict[int, int] = {}  # prompt number -> number in the answer (order of first citation)
        raw: list[str] = []
        sentinel = fold(text("llm_no_answer"))
        started = time.monotonic()
        first_token: float | None = None
        failure: str | None = None

        def judge(sentence: str) -> str | None:
            if sentinel in fold(sentence):
                raise _Abort("no_answer")
            verdict = guard.check(sentence)
            verdicts.append(verdict)
            if not verdict.kept:
                log.info("guard dropped %r: %s", sentence[:80], "; ".join(verdict.reasons))
                if len(verdicts) == 1:
                    raise _Abort("guard")  # the direct answer is gone: the rest cannot stand alone
                return None
            for number in verdict.cited:
                numbers.setdefault(number, len(numbers) + 1)
            return _inert_sentence(_renumber(sentence, numbers))

        prompt = messages(draft.question, draft.audience, draft.passages, draft.terms)
        options: dict[str, Any] = {}
        if self.grammar is not None:
            options["extra_body"] = {"grammar": self.grammar}
        elif s.llm_grammar == "on" or (s.llm_grammar == "auto" and self.name == "local"):
            options["extra_body"] = {"grammar": cited_lines_grammar(len(draft.passages))}
        chunks: Iterator[str] | None = None
        try:
            model = self.chat_model()
            chunks = _deadline(lambda: model.stream(prompt, **options), started + s.llm_timeout)
            stream = SentenceStream()
            for delta in chunks:
                if first_token is None:
                    first_token = time.monotonic() - started
                raw.append(delta)
                for sentence in stream.feed(delta):
                    shown = judge(sentence)
                    if shown is not None:
                        yield shown
            for sentence in stream.close():
                shown = judge(sentence)
                if shown is not None:
                    yield shown
        except _Abort as abort:
            failure = str(abort)
        except TimeoutError:
            failure = "timeout"
            log.warning("llm %s: no complete answer within %.0f s", self.name, s.llm_timeout)
        except WriterError:
            raise
        except Exception as exc:  # the server is down, refuses, or answers garbage: one line, then extractive
            failure = "error"
            log.warning("llm %s failed: %s: %s", self.describe(), type(exc).__name__, str(exc)[:200])
        finally:
            if chunks is not None:
                chunks.close()  # type: ignore[attr-defined]
        kept = [v for v in verdicts if v.kept]
        if failure is None and sentinel in fold("".join(raw)):
            failure = "no_answer"
        if failure is None and not verdicts:
            failure = "empty"
        if failure is None and (not kept or len(kept) < len(verdicts) - len(kept)):
            failure = "guard"
        report = GuardReport(
            writer=self.name,
            model=self.model_label,
            kept=len(kept),
            dropped=len(verdicts) - len(kept),
            reasons=tuple(f"frase {i}: " + "; ".join(v.reasons) for i, v in enumerate(verdicts, start=1) if not v.kept),
            fallback=failure,
            first_token_seconds=None if first_token is None else round(first_token, 3),
            seconds=round(time.monotonic() - started, 3),
        )
        log.info(
            "llm %s answered in %.1f s: %d kept, %d dropped%s",
            self.name,
            time.monotonic() - started,
            len(kept),
            len(verdicts) - len(kept),
            f", fallback {failure}" if failure else "",
        )
        if failure is not None:
            yield fallback_answer(draft.fallback, report, failure, s.llm_timeout)
        else:
            yield guarded_answer(draft, kept, numbers, report)


def guarded_answer(draft: Draft, kept: list[Verdict], numbers: dict[int, int], report: GuardReport) -> Answer:
    """The model's kept sentences, then the cited passages quoted verbatim, then the sources."""
    by_number = {p.number: p for p in draft.passages}
    order: list[Passage] = [by_number[n] for n, _ in sorted(numbers.items(), key=lambda kv: kv[1])]
    quoted, citations = quoted_passages(draft.question, [p.chunk for p in order], draft.catalog)
    law = [q for q, c in zip(quoted, citations, strict=True) if c.kind == "norma"]
    further = [q for q, c in zip(quoted, citations, strict=True) if c.kind != "norma"]
    sentences = " ".join(_inert_sentence(_renumber(v.sentence, numbers)) for v in kept)
    fallback = draft.fallback
    body = render(
        "answer_llm.md",
        opening=text("uncertain") if fallback.confidence == "bassa" else "",
        text=sentences,
        law="\n\n".join([text("law_heading"), *law]) if law else "",
        further="\n\n".join([text("further_heading"), *further]) if further else "",
        sources="\n".join(source_lines(citations)),
        origin=text("origin_llm", model=inert_markdown(report.model)),
        notice=text("notice"),
    )
    body = re.sub(r"\n{3,}", "\n\n", body)
    notes = fallback.notes
    if report.dropped:
        notes += (text("llm_dropped_one") if report.dropped == 1 else text("llm_dropped", count=report.dropped),)
    return replace(fallback, answer=body, source="llm", citations=tuple(citations), notes=notes, guard=report)


def fallback_answer(extractive: Answer, report: GuardReport, failure: str, timeout: float) -> Answer:
    """The extractive answer with one line saying why the model's is not shown."""
    reason = (
        text(f"llm_reason_{failure}", seconds=f"{timeout:g}") if failure == "timeout" else text(f"llm_reason_{failure}")
    )
    return replace(extractive, notes=(*extractive.notes, text("llm_fallback", reason=reason)), guard=report)


def cited_lines_grammar(passages: int, lines: int = 5) -> str:
    """A llama.cpp GBNF grammar: up to `lines` lines, each opened by an existing passage's [n], or the refusal."""
    refusal = text("llm_no_answer").replace('"', "")
    digits = f"[1-{min(passages, 9)}]"
    optional = " line?" * (lines - 1)
    return f'root ::= "{refusal}" | line{optional}\nline ::= "[" {digits} "] " [^\\n\\[]+ "\\n"\n'


def _renumber(sentence: str, numbers: dict[int, int]) -> str:
    """Markers in the answer's numbering, at the end of the sentence ("[2] Testo." -> "Testo [1].")."""
    leading = re.match(r"\s*((?:\[\d+\]\s*)+)(.*)$", sentence, flags=re.DOTALL)
    if leading and leading.group(2).strip():
        body = leading.group(2).strip()
        stop = body[-1] if body[-1] in ".;:!?" else ""
        sentence = body[: len(body) - len(stop)].rstrip() + " " + leading.group(1).replace(" ", "") + (stop or ".")
    return MARKER.sub(lambda m: f"[{numbers.get(int(m.group(1)), int(m.group(1)))}]", sentence)


def _inert_sentence(sentence: str) -> str:
    """A model's sentence shown as text (never a link or HTML), its [n] markers ours."""
    return re.sub(r"&#91;(\d+)&#93;", r"[\1]", inert_markdown(sentence))


def _deadline(start: Callable[[], Iterable[Any]], deadline: float) -> Iterator[str]:
    """The text of a model's stream, read on a worker thread; TimeoutError past `deadline` (monotonic)."""
    channel: queue.Queue[tuple[str, Any]] = queue.Queue()
    stop = threading.Event()

    def produce() -> None:
        try:
            stream = start()
            for chunk in stream:
                if stop.is_set():
                    break
                content = getattr(chunk, "content", "")
                channel.put(("data", content if isinstance(content, str) else ""))
            close = getattr(stream, "close", None)
            if close is not None:
                close()
            channel.put(("end", None))
        except BaseException as exc:  # handed to the reader, which raises it
            channel.put(("error", exc))

    threading.Thread(target=produce, name="llm-stream", daemon=True).start()
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            try:
                kind, value = channel.get(timeout=remaining)
            except queue.Empty:
                raise TimeoutError from None
            if kind == "end":
                return
            if kind == "error":
                raise value
            if value:
                yield value
    finally:
        stop.set()


def _missing(package: str) -> str:
    return (
        f"Manca il pacchetto {package}, necessario per LC_LLM: installa gli extra con "
        "`.venv/bin/pip install -e '.[llm]'` oppure usa LC_LLM=extractive."
    )
