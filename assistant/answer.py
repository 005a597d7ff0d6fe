"""Grounded answers: pick the best commi or sentences of the top hits and quote them with numbered citations.

One refusal path: when the evidence is weak the answer is REFUSAL plus what the corpus covers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Protocol

from .amendments import load_amendments
from .brief import glossary_brief, module_brief
from .citations import kind_label, quote, quoted_passages, reference, source_lines
from .config import Settings
from .conversation import contextualise
from .errors import UserError
from .evidence import Assessment, Confidence, assess, load_scope
from .glossary import Entry, Glossary, is_definitional
from .models import AUDIENCES, KIND_PRIORITY, Answer, Brief, Chunk, Citation, GlossaryRef, Hit, Suggestion
from .prompts import render, text
from .retrieve import Retriever
from .text import inert_markdown
from .writers import Draft, ExtractiveWriter, Piece, Writer, last_answer
from .writers.guard import Passage, addresses_the_model

log = logging.getLogger(__name__)

REFUSAL = text("refusal")


class QuestionError(UserError, ValueError):
    """An unusable question; the message is the Italian text to show."""


@dataclass(frozen=True)
class Question:
    text: str
    notes: tuple[str, ...] = ()


def clean_question(raw: str | None, limit: int) -> Question:
    """Reject an empty question; cut an over-long one with a note."""
    value = (raw or "").strip()
    if not value:
        raise QuestionError(text("empty"))
    if len(value) > limit:
        cut = value[:limit].rsplit(" ", 1)[0] if " " in value[:limit] else value[:limit]
        return Question(cut, (text("truncated", limit=limit),))
    return Question(value)


class CuratedSource(Protocol):
    """Approved curated and editors' answers, served before anything else (see assistant.curated.match)."""

    def consult(self, question: str, audience: str) -> tuple[Answer | None, tuple[Suggestion, ...]]:
        """The answer to serve (source="curated", curated_id set) or None, and similar answered questions."""
        ...

    def brief_for(self, question: str, audience: str, chunk: Chunk) -> Brief | None:
        """The opening of an approved answer close to the question that cites the passage's article, if any."""
        ...


class Assistant:
    """The question-answering service shared by the CLI and the app."""

    def __init__(
        self,
        settings: Settings,
        retriever: Retriever,
        curated: CuratedSource | None = None,
        writer: Writer | None = None,
    ) -> None:
        self.settings = settings
        self.retriever = retriever
        self.curated = curated
        self.writer: Writer = writer or ExtractiveWriter()
        self.scope = load_scope(settings.corpus_dir)
        self.amendments = load_amendments(settings.corpus_dir, retriever.catalog)

    @classmethod
    def load(cls, settings: Settings, curated: CuratedSource | None = None, writer: Writer | None = None) -> Assistant:
        return cls(settings, Retriever.load(settings), curated, writer)

    def search(self, raw_question: str, k: int | None = None) -> list[Hit]:
        question = clean_question(raw_question, self.settings.max_question_chars)
        return self.retriever.search(question.text, k)

    @property
    def glossary(self) -> Glossary:
        return self.retriever.glossary

    def ask(self, raw_question: str, audience: str = "operatore", previous: str | None = None) -> Answer:
        """The answer to a question; `previous`, the question before it in the conversation (for follow-ups)."""
        return last_answer(self.ask_stream(raw_question, audience, previous))

    def ask_stream(
        self, raw_question: str, audience: str = "operatore", previous: str | None = None
    ) -> Iterator[Piece]:
        """`ask` as it is written: a model writer's guarded sentences as they are ready, then the final Answer.

        QuestionError is raised before anything is yielded."""
        question = clean_question(raw_question, self.settings.max_question_chars)
        if audience not in AUDIENCES:
            raise QuestionError(f"Pubblico non valido: {audience!r} (usa funzionario oppure operatore).")
        read = contextualise(question.text, previous, self.glossary)
        if read != question.text:
            question = Question(read, (*question.notes, text("follow_up", previous=(previous or "").strip())))
        terms = self.glossary.detect(question.text)
        suggestions: tuple[Suggestion, ...] = ()
        if self.curated is not None:
            served, suggestions = self.curated.consult(question.text, audience)
            if served is not None:
                yield self.with_terms(replace(served, query=raw_question, notes=question.notes), terms)
                return
        found = self.retriever.retrieve(question.text, max(self.settings.top_k, 12))
        hits = found.hits
        if terms and is_definitional(question.text):
            answer = self.define(raw_question, question, terms[0], hits, audience)
        else:
            verdict = self.assess(question.text, found.hits, found.bank_similarity, len(terms))
            # A question as close to an answered one as those we serve is in the domain, whatever the score.
            answered = bool(suggestions) and suggestions[0].score >= self.settings.curated_threshold
            if verdict.refuse and not answered:
                answer = self.refuse(raw_question, question, hits, verdict.topic)
            else:
                answer = self.compose(raw_question, question, hits, audience, verdict.confidence)
                if self.writer.name != "extractive":
                    for piece in self.writer.write(self.draft(question.text, audience, hits, terms, answer)):
                        if isinstance(piece, Answer):
                            answer = piece
                        else:
                            yield piece
        yield self.with_terms(replace(answer, suggestions=suggestions), terms)

    def draft(self, question: str, audience: str, hits: list[Hit], terms: list[Entry], extractive: Answer) -> Draft:
        """What a model writer reads: the best distinct passages (the excerpt the user would see quoted)."""
        catalog = self.retriever.catalog
        passages: list[Passage] = []
        for hit in self.select(question, hits, self.settings.llm_passages):
            info = catalog.document(hit.chunk.doc_id)
            if info is not None and addresses_the_model(hit.chunk.text):
                log.warning("passage %s addresses the model (prompt injection?): not given to the writer", hit.chunk.id)
            elif info is not None:
                excerpt = quote(question, hit.chunk.text)[1:-1]
                label = reference(hit.chunk, info)
                passages.append(Passage(len(passages) + 1, hit.chunk, excerpt, label, kind_label(info.kind)))
        return Draft(question, audience, passages, terms[:3], self.glossary, catalog, extractive)

    def assess(self, question: str, hits: list[Hit], bank_similarity: float, glossary_terms: int) -> Assessment:
        """In the domain or not, and how confident: see `assistant.evidence`."""
        return assess(
            question,
            hits,
            self.retriever.lexical,
            self.settings,
            bank_similarity=bank_similarity,
            bank_size=len(self.retriever.bank.questions) if self.retriever.bank is not None else 0,
            glossary_terms=glossary_terms,
            scope=self.scope,
            own_document=bool(hits)
            and not getattr(self.retriever.catalog.document(hits[0].chunk.doc_id), "in_manifest", True),
        )

    def with_terms(self, answer: Answer, question_terms: list[Entry]) -> Answer:
        """List the glossary terms the question and the answer touch; mark the citations of amended articles."""
        entries = {e.id: e for e in question_terms}
        for entry in [] if answer.refused else self.glossary.detect(answer.answer):
            entries.setdefault(entry.id, entry)
        refs = tuple(GlossaryRef(e.id, e.term, e.definition) for e in entries.values())
        return replace(answer, glossary_terms=refs, citations=self.amendments.annotate(answer.citations))

    def define(self, raw: str, question: Question, entry: Entry, hits: list[Hit], audience: str) -> Answer:
        """A "what is X?" answer: the canonical definition verbatim, the audience's wording, then the law."""
        rank = {h.chunk.id: i for i, h in enumerate(hits)}
        chunks: list[Chunk] = []
        for ref in entry.legal_basis:
            resolved = self.retriever.catalog.resolve(ref.doc_id, ref.article, ref.comma, ref.section)
            if not resolved:
                continue
            if len(resolved) > 1 and not any(c.id in rank for c in resolved):
                # A whole section (a judgment's reasoning): quote its passage closest to the term.
                similarity = self.retriever.dense_scores(f"{entry.term}: {entry.definition}", [c.id for c in resolved])
                best = max(resolved, key=lambda c: similarity.get(c.id, 0.0))
            else:
                best = min(resolved, key=lambda c: (rank.get(c.id, 10_000), c.position))
            if best not in chunks:
                chunks.append(best)
        chunks.sort(key=lambda c: KIND_PRIORITY.get(self._kind(c), 9))
        passages, citations = self._passages(question.text, chunks[: self.settings.answer_max_citations + 1])
        confusions = ""
        if entry.non_confondere_con:
            confusions = (
                text("glossary_confusions")
                + "\n"
                + "\n".join(f"- **{term}**: {difference}" for term, difference in entry.non_confondere_con)
                + "\n"
            )
        body = render(
            "answer_glossary.md",
            term=entry.term,
            definition=entry.definition,
            audience_label=text(f"audience_{audience}"),
            wording=entry.wording(audience),
            law_heading=text("glossary_law"),
            passages="\n\n".join(passages),
            confusions=confusions,
            sources="\n".join(source_lines(citations)),
            origin=text("origin_extractive"),
            notice=text("notice"),
        )
        return Answer(
            query=raw,
            answer=body,
            refused=False,
            source="glossary",
            citations=tuple(citations),
            notes=question.notes,
            hits=tuple(hits),
        )

    def refuse(self, raw: str, question: Question, hits: list[Hit], topic: str | None = None) -> Answer:
        body = render(
            "refusal.md",
            refusal=REFUSAL + (" " + text("out_of_scope", topic=topic) if topic else ""),
            coverage=text("coverage", topics=self.coverage()),
            origin=text("origin_extractive"),
            notice=text("notice"),
        )
        return Answer(
            query=raw,
            answer=body,
            refused=True,
            source="extractive",
            notes=question.notes,
            hits=tuple(hits),
            confidence="bassa",
        )

    def coverage(self) -> str:
        kinds: dict[str, int] = {}
        for info in self.retriever.catalog.documents.values():
            kinds[info.kind] = kinds.get(info.kind, 0) + 1
        main = [inert_markdown(i.ref) for i in self.retriever.catalog.documents.values() if i.kind == "norma"]
        parts = [", ".join(sorted(main))] if main else []
        for kind, count in sorted(kinds.items(), key=lambda kv: KIND_PRIORITY.get(kv[0], 9)):
            if kind != "norma":
                parts.append(f"{kind_label(kind).lower()} ({count})")
        return "; ".join(parts)

    def select(self, question: str, hits: list[Hit], limit: int | None = None) -> list[Hit]:
        """The passages worth quoting: close to the best score, distinct, law first (`limit`, then a module)."""
        limit = limit or self.settings.answer_max_citations
        if not hits:
            return []
        # Routed passages are placed first with a bonus; the others compete with the best of themselves.
        best = max((h.score for h in hits if not h.routed), default=hits[0].score)
        chosen: list[Hit] = []
        keys: set[tuple[str, str | None, str | None]] = set()
        for hit in hits:
            if len(chosen) >= limit:
                break
            if not hit.routed and hit.score < 0.6 * best:
                continue
            key = (hit.chunk.doc_id, hit.chunk.article, hit.chunk.comma if hit.chunk.article else hit.chunk.id)
            if key in keys:
                continue
            keys.add(key)
            chosen.append(hit)
        if chosen and all(self._kind(h.chunk) != "formazione" for h in chosen):
            # Training material explains the law in plain words: quote the best section beside the law.
            module = next((h for h in hits[:12] if self._kind(h.chunk) == "formazione"), None)
            if module is not None:
                chosen.append(module)
        order = {h.chunk.id: i for i, h in enumerate(chosen)}
        return sorted(chosen, key=lambda h: (KIND_PRIORITY.get(self._kind(h.chunk), 9), order[h.chunk.id]))

    def brief(self, question: str, audience: str, chunks: list[Chunk], retrieved: list[Chunk]) -> Brief | None:
        """ "In breve" from the best authored source citing the first law passage's article (see `assistant.brief`)."""
        law = next((c for c in chunks if self._kind(c) == "norma"), None)
        if law is None:
            return None
        found = self.curated.brief_for(question, audience, law) if self.curated is not None else None
        found = found or glossary_brief(question, law, self.glossary, self.retriever.catalog)
        return found or module_brief(
            law,
            retrieved,
            self.retriever.catalog,
            lambda ids: self.retriever.dense_scores(question, ids),
            self.settings.brief_module_floor,
        )

    def _kind(self, chunk: Chunk) -> str:
        info = self.retriever.catalog.document(chunk.doc_id)
        return info.kind if info else "formazione"

    def _passages(self, question: str, chunks: list[Chunk]) -> tuple[list[str], list[Citation]]:
        return quoted_passages(question, chunks, self.retriever.catalog)

    def compose(
        self, raw: str, question: Question, hits: list[Hit], audience: str, confidence: Confidence = "alta"
    ) -> Answer:
        selected = self.select(question.text, hits)
        passages, citations = self._passages(question.text, [h.chunk for h in selected])
        sources = "\n".join(source_lines(citations))
        law = [p for p, c in zip(passages, citations, strict=True) if c.kind == "norma"]
        further = [p for p, c in zip(passages, citations, strict=True) if c.kind != "norma"]
        brief = self.brief(question.text, audience, [h.chunk for h in selected], [h.chunk for h in hits])
        opening = [text("uncertain")] if confidence == "bassa" else []
        opening.append(text("brief", label=brief.label, text=brief.text) if brief else text(f"intro_{audience}"))
        body = render(
            "answer_extractive.md",
            opening="\n\n".join(opening),
            law="\n\n".join([text("law_heading"), *law]) if law else "",
            further="\n\n".join([text("further_heading"), *further]) if further else "",
            sources=sources,
            origin=text("origin_extractive"),
            notice=text("notice"),
        )
        return Answer(
            query=raw,
            answer=body,
            refused=False,
            source="extractive",
            citations=tuple(citations),
            notes=question.notes,
            hits=tuple(hits),
            confidence=confidence,
        )
