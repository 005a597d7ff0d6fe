"""The Italian legal heading grammar: articles, commi, lettere, Titolo/Capo, DM sections, judgment parts.

Shared by the chunkers and by the call checker, so a heading is recognised the same way everywhere.
"""

from __future__ import annotations

import re

LATIN_SUFFIX = (
    r"(?:bis|ter|quater|quinquies|sexies|septies|octies|novies|nonies|decies|undecies|duodecies|"
    r"terdecies)"
)
ART_HEADING = re.compile(rf"^\s{{0,6}}Art\.\s*(\d+(?:-?{LATIN_SUFFIX})?)\s*\.?\s*$", re.IGNORECASE)
# "2. Testo": a comma; "2.200.000,00 euro" at the start of a wrapped line is an amount, not comma 2.
COMMA_START = re.compile(rf"^\s{{0,4}}(\(\()?\s*(\d+(?:-{LATIN_SUFFIX})?)\.(?!\d)\s*(?=\S)")
LETTERA_START = re.compile(rf"^\s{{0,8}}(?:\(\()?\s*([a-z]{{1,2}}(?:-{LATIN_SUFFIX})?)\)\s")
TITOLO = re.compile(
    r"^\s*(TITOLO|Titolo|CAPO|Capo|LIBRO|Libro|PARTE|Parte)\s+([IVXLC]+(?:-?(?:bis|ter|quater|BIS|TER|QUATER))?)"
    r"\s*(?:[-–]\s+(.*))?$"
)
AGGIORNAMENTO = re.compile(r"^\s*AGGIORNAMENTO\s*\((\d+)\)\s*$")

DM_SECTION = re.compile(r"^\s{0,4}(\d)\.\s*([A-ZÀ-Ý][A-ZÀ-Ý’'`,\- –]{3,})\s*$")
DM_SUBSECTION = re.compile(r"^\s{0,6}(\d\.\d)\)\s+(\S.*)$")

JUDGMENT_PARTS = [
    ("fatto", re.compile(r"^\s*(FATTO|Fatto|Ritenuto in fatto|RITENUTO IN FATTO)\s*\.?\s*$")),
    ("diritto", re.compile(r"^\s*(DIRITTO|Diritto|Considerato in diritto|CONSIDERATO IN DIRITTO)\s*\.?\s*$")),
    ("diritto", re.compile(r"^\s*(FATTO|Fatto)\s+(e|E)\s+(DIRITTO|diritto)\s*\.?\s*$")),
    ("dispositivo", re.compile(r"^\s*(P\.\s?Q\.\s?M\.?|PER QUESTI MOTIVI|Per questi motivi)\s*$")),
]
PARAGRAPH_NUMBER = re.compile(r"^\s*(\d{1,2}(?:\.\d{1,2}){0,3})\s*\.?\s*[–—-]?\s+(?=[A-ZÀ-Ý«\"(])")

GENERIC_ART = re.compile(
    rf"^\s{{0,6}}(?:Art\.|ART\.|Articolo|ARTICOLO)\s*(\d+(?:-?{LATIN_SUFFIX})?)\s*(?:[-–—:.]\s*(.*))?$"
)
MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")

# Headings of calls (avvisi) written by administrations: looser than the norms' own grammar, since calls write
# "Art. 4) Durata", "art. 4 - durata", "2. Finalità" and "3) Durata e risorse".
CALL_ART_HEADING = re.compile(r"^art(?:icolo)?\.?\s*\d+[\w-]*\s*[-–—.:)]\s*\S", re.IGNORECASE)
CALL_NUMBERED_HEADING = re.compile(r"^\d{1,2}(?:\.\d{1,2})*[.)]?\s+[A-ZÀ-Ý]")
