"""The question bank (corpus/domande/*.yaml): how people ask what each passage says, in three registers.

Written by the project's editors from the source text (never from the evaluation sets) and versioned in the
corpus, it bridges vocabulary at no run-time cost: people ask "chi decide se posso diventare socio?", the law
says "l'ammissione di un nuovo associato è fatta con deliberazione dell'organo di amministrazione".
`load_bank` reads and validates the files; `sync_bank` (run by ingest) embeds the questions, as questions, into
their own collection of the store and builds their BM25; `BankIndex.matches` finds the bank questions closest to
a user's question, whose passages the retriever then lifts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .catalog import Catalog, LexicalIndex, write_json_atomic
from .config import Settings
from .embeddings import get_embedder, open_cache
from .generations import BANK_ENTRIES, carry_over, reading, vector_key
from .legal import CHUNKER_VERSION
from .models import REGISTERS, Chunk
from .references import Ref
from .store import IndexIdentity, IndexMismatchError, IndexMissingError, VectorStore, open_store
from .text import tokens

log = logging.getLogger(__name__)

BANK_DIR = "domande"
GENERATED_BANK_DIR = "domande-generate"  # in data_dir: questions a model wrote for uploaded documents (bankgen)
BANK_FILE, BANK_BM25_DIR = BANK_ENTRIES
REF_KEYS = ("doc_id", "article", "comma", "section", "chunk")


@dataclass(frozen=True)
class BankQuestion:
    """One question of the bank and the passages (structured references) that answer it."""

    id: str  # "<doc_id>:<n>", stable while the file keeps its order
    doc_id: str  # the document whose bank file holds the question
    text: str
    register: str  # legale | operatore | funzionario
    refs: tuple[Ref, ...]

    def as_chunk(self) -> Chunk:
        """How the store holds it: the question as text, the register as section, the references as refs."""
        return Chunk(
            id=self.id, doc_id=self.doc_id, text=self.text, section=self.register, refs=tuple(r.key for r in self.refs)
        )

    @classmethod
    def from_chunk(cls, chunk: Chunk) -> BankQuestion:
        return cls(chunk.id, chunk.doc_id, chunk.text, chunk.section or "", tuple(Ref.from_key(k) for k in chunk.refs))


def bank_ref(raw: Any, doc_id: str) -> Ref:
    """A bank reference: `{article, comma}`, `{section}` or `{chunk}` (a local chunk id), `doc_id` optional."""
    if not isinstance(raw, dict) or not set(raw) <= set(REF_KEYS) or not any(raw.get(k) for k in REF_KEYS[1:]):
        raise ValueError(f"riferimento non valido {raw!r}: usa article/comma, section oppure chunk")
    return Ref.from_mapping({**raw, "doc_id": str(raw.get("doc_id") or doc_id)})


def resolve_ref(ref: Ref, catalog: Catalog) -> list[Chunk]:
    """The passages a bank reference points to (never the amendment notes of an article)."""
    return [c for c in catalog.resolve_ref(ref) if c.section != "aggiornamento"]


def load_bank(folder: Path) -> tuple[list[BankQuestion], list[str]]:
    """Every question of the bank files, and the Italian problems of the files that could not be read in full."""
    questions: list[BankQuestion] = []
    problems: list[str] = []
    numbers: dict[str, int] = {}  # per document, across files
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            problems.append(f"{path.name}: file non leggibile ({exc}).")
            continue
        if not isinstance(data, dict) or not data.get("doc_id") or not isinstance(data.get("passages"), list):
            problems.append(f"{path.name}: servono doc_id e passages (una lista).")
            continue
        doc_id = str(data["doc_id"])
        for index, item in enumerate(data["passages"], start=1):
            where = f"{path.name}, voce {index}"
            try:
                refs = tuple(bank_ref(r, doc_id) for r in item.get("refs") or [])
                if not refs:
                    raise ValueError("mancano i riferimenti (refs)")
                asked = item.get("questions") or {}
                if not isinstance(asked, dict) or set(asked) - set(REGISTERS):
                    raise ValueError(f"questions deve avere le chiavi {', '.join(REGISTERS)}")
            except (ValueError, AttributeError) as exc:
                problems.append(f"{where}: {exc}.")
                continue
            for register in REGISTERS:
                for text in asked.get(register) or []:
                    numbers[doc_id] = numbers.get(doc_id, 0) + 1
                    questions.append(
                        BankQuestion(f"{doc_id}:{numbers[doc_id]}", doc_id, " ".join(str(text).split()), register, refs)
                    )
    return questions, problems


def bank_problems(questions: list[BankQuestion], catalog: Catalog) -> list[str]:
    """Italian problems: references that resolve to no indexed passage, questions repeated with the same words."""
    problems = []
    unresolved: set[str] = set()
    for q in questions:
        for ref in q.refs:
            if not resolve_ref(ref, catalog) and ref.key not in unresolved:
                unresolved.add(ref.key)
                where = ref.describe()
                problems.append(
                    f"Banca delle domande ({q.doc_id}): il riferimento {where} non corrisponde a nessun "
                    "passaggio indicizzato."
                )
    seen: dict[frozenset[str], BankQuestion] = {}
    for q in questions:
        key = frozenset(tokens(q.text))
        if key in seen:
            problems.append(
                f"Banca delle domande: «{q.text}» ({q.id}) ha le stesse parole di «{seen[key].text}» ({seen[key].id})."
            )
        seen.setdefault(key, q)
    return problems


def eval_overlaps(
    questions: list[BankQuestion],
    eval_questions: list[str],
    vectors: np.ndarray,
    eval_vectors: np.ndarray,
    threshold: float,
) -> list[str]:
    """Bank questions copied from an evaluation set: the same stemmed words, or a cosine of at least `threshold`
    between the two questions (both encoded as questions)."""
    problems = []
    words = {frozenset(tokens(text)): text for text in eval_questions}
    similarity = vectors @ eval_vectors.T if len(eval_questions) and len(questions) else np.zeros((len(questions), 0))
    for row, q in enumerate(questions):
        same = words.get(frozenset(tokens(q.text)))
        best = int(np.argmax(similarity[row])) if similarity.shape[1] else -1
        if same is not None:
            problems.append(
                f"Banca delle domande: «{q.text}» ({q.id}) ha le stesse parole della domanda di "
                f"valutazione «{same}»: riscrivila a partire dal testo della fonte."
            )
        elif best >= 0 and similarity[row, best] >= threshold:
            problems.append(
                f"Banca delle domande: «{q.text}» ({q.id}) è quasi identica (similarità "
                f"{similarity[row, best]:.3f}) alla domanda di valutazione «{eval_questions[best]}»."
            )
    return problems


def coverage_gaps(questions: list[BankQuestion], catalog: Catalog, doc_id: str) -> list[str]:
    """The articles of a norm that no bank question points to."""
    covered = {c.article for q in questions for ref in q.refs for c in resolve_ref(ref, catalog) if c.doc_id == doc_id}
    articles = dict.fromkeys(c.article for c in catalog.by_doc.get(doc_id, []) if c.article)
    return [a for a in articles if a not in covered]


def bank_digest(questions: list[BankQuestion], embedder: str) -> str:
    """Changes whenever a question, its register, its references or the embedder change."""
    payload = json.dumps([[q.id, q.text, q.register, [r.key for r in q.refs]] for q in questions], ensure_ascii=False)
    return hashlib.sha256(f"{embedder}\x00{payload}".encode()).hexdigest()


def bank_settings(settings: Settings) -> Settings:
    """The same store, the bank's own collection."""
    return settings.model_copy(update={"collection": f"{settings.collection}_{BANK_DIR}"})


@dataclass(frozen=True)
class BankSync:
    digest: str
    questions: int
    embedded: int  # questions sent to the embedder (cache misses)
    keys: frozenset[str] = frozenset()  # the store keys of this generation's question vectors
    carried: bool = False  # nothing changed: the current generation's files were copied, no vector written


def question_key(question: BankQuestion) -> str:
    return vector_key(question.id, question.text)


def sync_bank(
    settings: Settings, previous_digest: str | None, directory: Path, current: Path, rebuild: bool = False
) -> BankSync:
    """Bring the bank's vectors up to date with corpus/domande and write its local files into the new
    generation `directory` (copied from the `current` one when nothing changed). Stale vectors stay until
    `collect_bank` runs after the switch."""
    questions, problems = load_bank(settings.corpus_dir / BANK_DIR)
    generated, more = load_bank(settings.data_dir / GENERATED_BANK_DIR)
    questions, problems = questions + generated, problems + more
    for problem in problems:
        log.warning("question bank: %s", problem)
    digest = bank_digest(questions, settings.embedder)
    keys = frozenset(question_key(q) for q in questions)
    if rebuild:
        with contextlib.suppress(IndexMissingError):
            open_store(bank_settings(settings)).drop()
    elif digest == previous_digest and (current / BANK_FILE).is_file():
        try:
            if keys <= open_store(bank_settings(settings), check_chunker=False).ids():
                carry_over(current, directory, BANK_ENTRIES)
                return BankSync(digest, len(questions), 0, keys, carried=True)
        except IndexMissingError:
            pass
    embedder = get_embedder(settings.embedder, settings.embed_threads)
    identity = IndexIdentity(embedder.name, embedder.dim, CHUNKER_VERSION)
    cache = open_cache(settings, embedder, as_queries=True)
    before = embedder.texts_embedded
    try:
        vectors = cache.encode([q.text for q in questions])
    finally:
        cache.close()
    try:
        store = open_store(bank_settings(settings), identity, create=True, check_chunker=False)
    except IndexMismatchError:  # another embedder: its vectors cannot stay beside the new ones
        open_store(bank_settings(settings)).drop()
        store = open_store(bank_settings(settings), identity, create=True)
    if questions:
        store.upsert([q.as_chunk() for q in questions], vectors, [question_key(q) for q in questions])
    store.set_identity(identity)
    save_local(directory, questions)
    log.info("question bank: %d questions indexed", len(questions))
    return BankSync(digest, len(questions), max(0, embedder.texts_embedded - before), keys)


def collect_bank(settings: Settings, directory: Path) -> int:
    """Delete the bank vectors the generation in `directory` does not use; how many were deleted."""
    local = directory / BANK_FILE
    if not local.is_file():  # no bank in this generation: nothing is known to be stale
        return 0
    keys = {vector_key(c["id"], c["text"]) for c in json.loads(local.read_text(encoding="utf-8"))}
    try:
        store = open_store(bank_settings(settings), check_chunker=False)
    except IndexMissingError:
        return 0
    stale = sorted(store.ids() - keys)
    if stale:
        store.delete(stale)
    return len(stale)


def save_local(directory: Path, questions: list[BankQuestion]) -> None:
    write_json_atomic(directory / BANK_FILE, [q.as_chunk().to_dict() for q in questions])
    LexicalIndex.build([q.id for q in questions], [q.text for q in questions]).save(directory / BANK_BM25_DIR)


class BankIndex:
    """The bank questions with their vectors (exact cosine in memory) and their BM25."""

    def __init__(self, questions: list[BankQuestion], matrix: np.ndarray, lexical: LexicalIndex) -> None:
        self.questions = questions
        self.matrix = matrix
        self.lexical = lexical
        self.row = {q.id: i for i, q in enumerate(questions)}

    @classmethod
    def load(cls, settings: Settings, identity: IndexIdentity, directory: Path) -> BankIndex | None:
        """The bank of the index generation in `directory`; None when this index has none."""
        try:
            store: VectorStore = open_store(bank_settings(settings), identity, check_chunker=False)
        except IndexMissingError:
            return None
        ids, matrix = store.all_vectors()
        with reading(settings.index_dir):
            local = directory / BANK_FILE
            lexical = LexicalIndex.load(directory / BANK_BM25_DIR)
            chunks = (
                [Chunk.from_dict(c) for c in json.loads(local.read_text(encoding="utf-8"))] if local.is_file() else []
            )
        if not chunks or lexical is None:  # a new instance over a shared store: rebuild the local files
            latest = {chunk.id: chunk for _, chunk in store.keyed_chunks()}
            chunks = list(latest.values())
            save_local(directory, [BankQuestion.from_chunk(c) for c in chunks])
            lexical = LexicalIndex.load(directory / BANK_BM25_DIR)
        questions = [BankQuestion.from_chunk(c) for c in chunks]
        row = {key: i for i, key in enumerate(ids)}
        keep: list[tuple[int, BankQuestion]] = []
        for question in questions:
            # Its own version's vector; a vector stored under the bare id only by an index of the first layout.
            found = row.get(question_key(question), row.get(question.id))
            if found is not None:
                keep.append((found, question))
        if not keep or lexical is None:
            return None
        return cls([q for _, q in keep], matrix[[i for i, _ in keep]], lexical)

    def matches(
        self, vector: np.ndarray, question: str, n: int, rrf_k: int = 20, how: str = "both"
    ) -> list[tuple[BankQuestion, float]]:
        """The bank questions closest to a user's question: dense and BM25 rankings fused (or one of them, `how`),
        each with its dense similarity."""
        dense = self.matrix @ vector
        scores: dict[int, float] = {}
        if how in ("both", "dense"):
            scores = {int(i): 1.0 / (rrf_k + rank + 1) for rank, i in enumerate(np.argsort(-dense)[:n])}
        for rank, (qid, _) in enumerate(self.lexical.search(tokens(question), n) if how != "dense" else []):
            row = self.row[qid]
            scores[row] = scores.get(row, 0.0) + 1.0 / (rrf_k + rank + 1)
        ranked = sorted(scores, key=lambda i: -scores[i])[:n]
        return [(self.questions[i], float(dense[i])) for i in ranked]

    def best_similarity(self, vector: np.ndarray) -> float:
        """How close the question is to anything the bank says people ask: a signal of the domain."""
        return float(np.max(self.matrix @ vector)) if len(self.questions) else 0.0
