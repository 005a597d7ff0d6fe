from assistant.text import fix_accents, fold, join_lines, sentence_case, sentences, tokens


def test_apostrophe_accents_become_letters() -> None:
    assert fix_accents("le attivita' di interesse generale") == "le attività di interesse generale"
    assert fix_accents("E' vietato, perche' nonche' ne' se'") == "È vietato, perché nonché né sé"
    assert fix_accents("un po' di liberta'.") == "un po' di libertà."
    assert fix_accents("dell'articolo 5") == "dell'articolo 5"  # an elision is not an accent


def test_fold_unifies_spellings() -> None:
    assert fold("Co-progettazione") == fold("coprogettazione") == "coprogettazione"
    assert fold("ATTIVITA'") == fold("attività") == "attivita"
    assert fold("L'ODV") == "l odv"


def test_tokens_stem_and_drop_stopwords() -> None:
    assert tokens("le convenzioni con le organizzazioni") == tokens("convenzione organizzazione")
    assert "di" not in tokens("attività di interesse generale")


def test_join_lines_mends_hyphenation() -> None:
    assert join_lines(["la co-", "progettazione e la norma-", "tiva"]) == "la co-progettazione e la normativa"


def test_sentences_keep_abbreviations() -> None:
    parts = sentences("Ai sensi dell'art. 55, comma 3, del D.Lgs. n. 117/2017 si procede. Poi si decide.")
    assert parts == ["Ai sensi dell'art. 55, comma 3, del D.Lgs. n. 117/2017 si procede.", "Poi si decide."]


def test_sentence_case_keeps_acronyms() -> None:
    assert sentence_case("LE CONVENZIONI CON APS E ODV") == "Le convenzioni con APS e ODV"
