"""Ranking on the real default embedder over the mini corpus."""

from __future__ import annotations

from pathlib import Path

from assistant.manifest import load_manifest
from assistant.retrieve import parse_references

ALIASES = load_manifest(Path(__file__).resolve().parents[1] / "corpus").aliases


def ids(hits) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.chunk.id for h in hits]


def test_definition_question_ranks_the_defining_comma_first(mini_assistant) -> None:  # type: ignore[no-untyped-def]
    hits = mini_assistant.search("Che cos'è la co-programmazione?", 5)
    assert ids(hits)[0] == "dlgs-117-2017-codice-terzo-settore:55:2"


def test_plain_words_find_the_reimbursement_rule(mini_assistant) -> None:  # type: ignore[no-untyped-def]
    hits = mini_assistant.search("Il Comune può pagarci solo le spese che abbiamo davvero sostenuto?", 5)
    assert "dlgs-117-2017-codice-terzo-settore:56:2" in ids(hits)[:3]


def test_accents_and_hyphens_do_not_matter(mini_assistant) -> None:  # type: ignore[no-untyped-def]
    from assistant.text import tokens

    assert tokens("coprogettazione finalita") == tokens("Co-progettazione finalità")
    a = ids(mini_assistant.search("coprogettazione finalita", 5))
    b = ids(mini_assistant.search("co-progettazione finalità", 5))
    assert a == b


def test_article_reference_is_routed_first(mini_assistant) -> None:  # type: ignore[no-untyped-def]
    hits = mini_assistant.search("cosa prevede l'art. 56, comma 3-bis, del d.lgs. 117/2017?", 5)
    assert hits[0].routed and hits[0].chunk.id == "dlgs-117-2017-codice-terzo-settore:56:3-bis"
    hits = mini_assistant.search("Art. 12 legge 241/1990", 3)
    assert hits[0].chunk.id == "l-241-1990-procedimento-amministrativo:12:1"


def test_reference_parser() -> None:
    refs = parse_references("Cosa dice l'articolo 55 comma 4 del Codice del Terzo settore?", ALIASES)
    assert [(r.doc_id, r.article, r.comma) for r in refs] == [("dlgs-117-2017-codice-terzo-settore", "55", "4")]
    assert parse_references("art. 11 della L. 241/1990", ALIASES)[0].doc_id == "l-241-1990-procedimento-amministrativo"
    assert parse_references("DM 72 paragrafo 3", ALIASES)[0].section == "3"
    assert parse_references("come partecipo a un progetto?", ALIASES) == []
