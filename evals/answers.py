"""What the user sees, measured: the evaluation items, the passage matching, the answers checked per register.

Imported by `evals.harness` (and through it by every script), never the reverse.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.answer import Assistant
from assistant.catalog import section_matches
from assistant.citations import quoted_spans
from assistant.config import Settings
from assistant.curated.match import CuratedMatcher
from assistant.curated.store import CuratedStore
from assistant.glossary import is_definitional
from assistant.models import REGISTERS, Chunk
from assistant.prontuario import PRONTUARIO_DIR, load_prontuario, sync_prontuario
from assistant.retrieve import Retrieval


@dataclass(frozen=True)
class Item:
    id: str
    question: str
    register: str
    audience: str
    topic: str
    expected: tuple[dict[str, str], ...]
    expect_refusal: bool


def load_items(path: Path, limit: int | None = None) -> list[Item]:
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            raw = json.loads(line)
            items.append(
                Item(
                    raw["id"],
                    raw["question"],
                    raw["register"],
                    raw["audience"],
                    raw.get("topic", ""),
                    tuple(raw.get("expected", [])),
                    bool(raw.get("expect_refusal")),
                )
            )
    return items[:limit] if limit else items


def chunk_matches(chunk: Chunk, gold: dict[str, str]) -> bool:
    if chunk.doc_id != gold["doc_id"]:
        return False
    if gold.get("article") and (chunk.article or "").lower() != str(gold["article"]).lower():
        return False
    if gold.get("comma") and (chunk.comma or "").lower() != str(gold["comma"]).lower():
        return False
    return not gold.get("section") or section_matches(chunk, str(gold["section"]))


def temporary_matcher(settings: Settings, assistant: Assistant, folder: Path) -> CuratedMatcher:
    """The prontuario imported into a SQLite store of its own, matched as in the app."""
    store = CuratedStore.open(f"sqlite:///{folder / 'prontuario.sqlite3'}", assistant.retriever.catalog)
    entries, problems = load_prontuario(settings.corpus_dir / PRONTUARIO_DIR)
    if problems:
        raise SystemExit("\n".join(problems))
    sync_prontuario(store, entries)
    return CuratedMatcher.from_settings(settings, store, assistant.retriever.catalog, assistant.glossary)


def domain_score(assistant: Assistant, question: str, found: Retrieval) -> float:
    """The pipeline's refusal score: the domain probability (a definition question is never refused)."""
    terms = assistant.glossary.detect(question)
    if terms and is_definitional(question):
        return 1.0
    return assistant.assess(question, found.hits, found.bank_similarity, len(terms)).domain


def answer_checks(assistant: Assistant, items: list[Item]) -> dict[str, Any]:
    """What the user sees, per register: the answer cites an expected passage ("citazione giusta"), answerable
    questions refused, unanswerable questions refused; plus citation validity (cited chunk retrieved, quotes
    verbatim) and the confidence levels shown."""
    citations = valid = 0
    problems: list[str] = []
    refused_ok = unanswerable = 0
    counts: dict[str, dict[str, int]] = {}
    confidence: dict[str, int] = {}
    served = 0
    for item in items:
        answer = assistant.ask(item.question, item.audience)
        for group in ("overall", item.register):
            c = counts.setdefault(group, {"answerable": 0, "right": 0, "refused": 0, "unanswerable": 0, "ok": 0})
            if item.expect_refusal:
                c["unanswerable"] += 1
                c["ok"] += int(answer.refused)
            else:
                c["answerable"] += 1
                c["refused"] += int(answer.refused)
                cited = [assistant.retriever.catalog.by_id.get(x.chunk_id) for x in answer.citations]
                c["right"] += int(any(ch and chunk_matches(ch, g) for ch in cited for g in item.expected))
        if not answer.refused:
            confidence[answer.confidence] = confidence.get(answer.confidence, 0) + 1
        retrieved = {h.chunk.id for h in answer.hits}
        cited_texts = [
            assistant.retriever.catalog.by_id[c.chunk_id].text
            for c in answer.citations
            if c.chunk_id in assistant.retriever.catalog.by_id
        ]
        spans = quoted_spans(answer.answer)
        served += int(answer.source == "curated")
        for cited in answer.citations:
            citations += 1
            # An editors' or trainers' answer cites its own approved sources, checked against the catalogue.
            ok = cited.chunk_id in retrieved or answer.source == "curated"
            if ok:
                valid += 1
            else:
                problems.append(f"{item.id}: {cited.chunk_id} non recuperato")
        for span in spans:
            if not any(_same_quotes(span) in _same_quotes(t) for t in cited_texts):
                problems.append(f"{item.id}: citazione non letterale: {span[:60]}")
        if item.expect_refusal:
            unanswerable += 1
            refused_ok += int(answer.refused)
    quotes_ok = not any("letterale" in p for p in problems)
    levels = {
        group: {
            "right_citation": c["right"] / c["answerable"] if c["answerable"] else None,
            "answerable_refused": c["refused"] / c["answerable"] if c["answerable"] else None,
            "unanswerable_refused": c["ok"] / c["unanswerable"] if c["unanswerable"] else None,
            "answerable": c["answerable"],
            "unanswerable": c["unanswerable"],
        }
        for group, c in counts.items()
    }
    return {
        "answers": levels,
        "confidence": confidence,
        "served_from_prontuario": served,
        "citations": citations,
        "citation_validity": (valid / citations if citations else 1.0) if quotes_ok else 0.0,
        "problems": problems[:20],
        "unanswerable_refused": f"{refused_ok}/{unanswerable}",
    }


def answers_table(checks: dict[str, Any]) -> str:
    """The answer-level metrics by register."""
    lines = [
        "| registro | citazione giusta | risposte rifiutate (rispondibili) | rifiuti giusti (non rispondibili) |",
        "|---|---|---|---|",
    ]

    def pct(value: float | None, n: int) -> str:
        return f"{value:.3f} (n={n})" if value is not None else "-"

    for group in ("overall", *REGISTERS):
        row = checks["answers"].get(group)
        if row:
            lines.append(
                f"| {group} | {pct(row['right_citation'], row['answerable'])} | "
                f"{pct(row['answerable_refused'], row['answerable'])} | "
                f"{pct(row['unanswerable_refused'], row['unanswerable'])} |"
            )
    return "\n".join(lines)


def _same_quotes(text: str) -> str:
    return " ".join(text.translate(str.maketrans({"«": '"', "»": '"', "“": '"', "”": '"'})).split())


# --- report -------------------------------------------------------------------------------------
