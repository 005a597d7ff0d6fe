"""Italian text normalisation: accents written as apostrophes, hyphenated line breaks, folding for matching."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from functools import lru_cache

# Normattiva writes final accents as apostrophes ("attivita'", "e'", "perche'").
_GRAVE = {"a": "à", "e": "è", "i": "ì", "o": "ò", "u": "ù", "A": "À", "E": "È", "I": "Ì", "O": "Ò", "U": "Ù"}
_ACUTE_E_WORDS = re.compile(r"(?i)(?:ch|^n|^s)e$")  # perché, nonché, affinché, né, sé take the acute accent
_APOSTROPHE_ACCENT = re.compile(r"(\w*?)([aeiouAEIOU])['’](?=[\s.,;:!?)\]»”\"]|$)")
_NOT_ACCENTS = {"po"}
_DOUBLE_ACCENT = re.compile(r"([àèéìòùÀÈÉÌÒÙ])['’](?=\W|$)")  # "un po'" keeps its apostrophe

# Prefixes that keep their hyphen when a line breaks after them ("co-\nprogettazione").
_HYPHEN_PREFIXES = {
    "co",
    "socio",
    "non",
    "auto",
    "extra",
    "inter",
    "multi",
    "post",
    "pre",
    "pro",
    "anti",
    "sovra",
    "infra",
    "ex",
    "neo",
    "para",
    "semi",
    "sub",
    "micro",
    "macro",
    "eco",
    "tele",
    "iper",
    "super",
    "ultra",
    "bis",
    "ter",
}


def fix_accents(text: str) -> str:
    """Turn apostrophe accents into accented letters: "attivita'" -> "attività", "e'" -> "è"."""

    def repl(match: re.Match[str]) -> str:
        stem, vowel = match.group(1), match.group(2)
        if (stem + vowel).lower() in _NOT_ACCENTS:
            return match.group(0)
        if vowel in "eE" and _ACUTE_E_WORDS.search(stem + vowel):
            return stem + ("é" if vowel == "e" else "É")
        return stem + _GRAVE[vowel]

    text = _APOSTROPHE_ACCENT.sub(repl, text)
    return _DOUBLE_ACCENT.sub(r"\1", text)


def join_lines(lines: list[str]) -> str:
    """Join wrapped lines of one paragraph, mending words hyphenated at a line break."""
    out = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if not out:
            out = line
            continue
        match = re.search(r"(\w+)-$", out)
        if match and line[:1].islower():
            if match.group(1).lower() in _HYPHEN_PREFIXES:
                out = out + line
            else:
                out = out[:-1] + line
        else:
            out = out + " " + line
    return re.sub(r"[ \t]+", " ", out)


def strip_accents(text: str) -> str:
    """Remove diacritics: "attività" -> "attivita"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_FOLD_HYPHEN = re.compile(r"(?<=\w)[-‐‑–](?=\w)")
_NON_WORD = re.compile(r"[^\w]+")


def fold(text: str) -> str:
    """Matching form: accents fixed then stripped, lowercase, intra-word hyphens removed, punctuation -> spaces.

    "Co-progettazione", "coprogettazione" and "CO-PROGETTAZIONE" all fold to "coprogettazione".
    """
    text = strip_accents(fix_accents(text)).lower()
    text = text.replace("'", " ").replace("’", " ")
    text = _FOLD_HYPHEN.sub("", text)
    text = _NON_WORD.sub(" ", text)
    return " ".join(text.split())


ITALIAN_STOPWORDS = frozenset(
    """
    a ad al allo ai agli all alla alle agl anche ancora avere abbia abbiamo abbiano ha hai hanno ho
    che chi ci come con col coi contro cosa cui da dal dallo dai dagli dall dalla dalle de del dello dei degli
    dell della delle di dopo dove e ed ecco era erano essere essa esse essi esso fa fare fra gli
    ha i il in io la le lei li lo loro lui ma me mi mia mie miei mio ne negli nel nello nei nell nella nelle
    no noi non nostra nostro o ogni per perche piu poi qua quale quali qualche quando quanto quella quelle
    quelli quello questa queste questi questo qui se sei senza si sia siamo siano sono su sua sue sul sullo
    sui sugli sull sulla sulle suo suoi ti tra tu tua tue tuo tuoi tutti tutto un una uno vi voi vostro
    e è essere stato stata stati state viene vengono deve devono puo possono posso devo dobbiamo
    cos cosa cose cio quel quei sto sta stanno molto poco piu meno
    """.split()
)


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("italian")


def tokens(text: str) -> list[str]:
    """Lexical tokens: folded words minus Italian stop-words, Snowball-stemmed; digits kept as they are."""
    words = [w for w in fold(text).split() if w not in ITALIAN_STOPWORDS]
    stemmer = _stemmer()
    return [w if w.isdigit() else stemmer.stemWord(w) for w in words]


def sentences(text: str) -> list[str]:
    """Split Italian legal prose into sentences, keeping abbreviations such as "art.", "n.", "D.Lgs." intact."""
    protected = re.sub(
        r"\b(art|artt|n|nn|lett|co|cfr|sez|pag|pagg|ss|sgg|d|l|lgs|p|es|ecc|rep|reg|prot|cod|civ|pen|cost|c)\.",
        lambda m: m.group(0).replace(".", "\x00"),
        text,
        flags=re.IGNORECASE,
    )
    protected = re.sub(r"(?<=\d)\.(?=\d)", "\x00", protected)
    parts = re.split(r"(?<=[.;:!?])\s+(?=[«\"(A-ZÀ-Ý0-9])", protected)
    return [p.replace("\x00", ".").strip() for p in parts if p.strip()]


_CO_JOIN = re.compile(r"\bco (?=[a-z])")


def fold_phrase(text: str) -> str:
    """`fold` for matching phrases: also "co progettazione" = "coprogettazione", € and % as the words."""
    return _CO_JOIN.sub("co", fold(text.replace("€", " euro ").replace("%", " percento ")))


def slug(text: str, max_len: int = 60, *, whole_words: bool = False) -> str:
    """Lowercase ASCII slug for stable ids: "Co-progettazione è" -> "co-progettazione-e".

    With `whole_words`, a slug longer than `max_len` is cut at a hyphen rather than inside a word.
    """
    value = re.sub(r"[^a-z0-9]+", "-", strip_accents(text).lower()).strip("-")
    if whole_words and len(value) > max_len:
        cut = value[: max_len + 1].rsplit("-", 1)[0]
        value = cut if max_len // 2 <= len(cut) <= max_len else value[:max_len]
    return value[:max_len].strip("-") or "x"


def safe_filename(name: str, max_len: int = 80) -> str:
    """A file name made of a slug and the lower-case suffix: "Avviso Co-progettazione.PDF" -> "avviso-co-...pdf"."""
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        return slug(name, max_len)
    return f"{slug(stem, max_len)}.{slug(suffix, 10)}"


def _rome(moment: datetime) -> datetime:
    try:
        from zoneinfo import ZoneInfo

        return moment.astimezone(ZoneInfo("Europe/Rome"))
    except Exception:  # no tz database on this machine: UTC is still a correct, if less friendly, time
        return moment


def italian_date(value: date | datetime | str | None) -> str:
    """The day as Italians write it, "3-11-2026", from an ISO date, a date or a moment (in Italian time).

    A string that is not an ISO date is returned as it is.
    """
    if value is None or value == "":
        return "data non indicata"
    day: date
    if isinstance(value, str):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return value
    elif isinstance(value, datetime):
        day = _rome(value)
    else:
        day = value
    return f"{day.day}-{day.month}-{day.year}"


def italian_datetime(moment: datetime | None) -> str:
    """A moment as Italians write it, "3-11-2026 alle 14:05", in Italian time."""
    if moment is None:
        return "data non indicata"
    return f"{italian_date(moment)} alle {_rome(moment):%H:%M}"


ACRONYMS = frozenset(
    "APS ODV ETS CTS RUNTS CSV PA UE IVA ANAC TAR ATS LEPS ISEE IMU DM CU CCP OTC ONC ATI RTI PD CIG CUP PEC DPR "
    "DPCM SIEG MLPS ONLUS OdV CdS".split()
)


def sentence_case(text: str) -> str:
    """Headings in capitals made readable: "LE CONVENZIONI CON APS E ODV" -> "Le convenzioni con APS e ODV"."""
    words = text.split()
    out = []
    for index, word in enumerate(words):
        core = re.sub(r"[^\wÀ-ÝÀ-ÿ]", "", word)
        keep = core in ACRONYMS and index > 0
        out.append(word if keep else word.lower())
    result = " ".join(out)
    return result[:1].upper() + result[1:]


# --- Document text shown as text ------------------------------------------------------------------------------
# A document's text goes into Markdown that a browser renders. Every character that Markdown or HTML could read as
# structure becomes a numeric character reference, which CommonMark and marked never read as structure and the
# browser shows as the character itself: the text reads verbatim, and nothing in it is a tag, an entity, an image,
# a link, a code span or LaTeX. Emphasis (*, _) is left alone: it changes how words look, never what is fetched.
_INERT_CHARS = {
    "&": "&amp;",  # first of all: an entity written in the document ("&lt;script&gt;") stays text
    "<": "&lt;",  # HTML tags, autolinks <http://...>
    ">": "&gt;",
    "[": "&#91;",  # links, images, reference-style links and their definitions
    "]": "&#93;",
    "\\": "&#92;",  # a document's backslash never escapes what follows it
    "`": "&#96;",  # code spans and fences
    "$": "&#36;",  # LaTeX delimiters of the chat
    "@": "&#64;",  # e-mail autolinks
}
_INERT_CHAR = re.compile("[" + re.escape("".join(_INERT_CHARS)) + "]")
# GFM turns bare http://, ftp://, www. and e-mail addresses into links: their colon or dot becomes a reference.
_SCHEME_COLON = re.compile(
    r"(?i)\b(https?|ftps?|file|javascript|vbscript|data|mailto|tel|blob|wss?|[a-z][a-z0-9+.-]*(?=:/)):"
)
_WWW_DOT = re.compile(r"(?i)\b(www)\.")
# Block structure at the start of a line: headings, quotes, lists, rules, setext underlines, tables, fences.
_LINE_START = re.compile(r"(?:(?<=[\r\n])|\A)([ \t]*)(?:(\d{1,9})([.)])|([#*+=_~|-]))")
_NEXT_LINE_START = re.compile(r"(?<=[\r\n])([ \t]*)(?:(\d{1,9})([.)])|([#*+=_~|-]))")
_REFERENCE = re.compile(r"&(?:amp|lt|gt|#(\d{1,7}));")


def inert_markdown(value: str, *, line_start: bool = False) -> str:
    """A document's text made inert in Markdown: shown as the same characters, never as HTML, a link or an image.

    The text goes inside a line of ours («...», a label): a "1." or "-" that opens it is text. With `line_start`
    it opens a line of the Markdown, where such a mark would start a list, so it is escaped too.
    """
    value = _INERT_CHAR.sub(lambda m: _INERT_CHARS[m.group(0)], value)
    value = _SCHEME_COLON.sub(r"\1&#58;", value)
    value = _WWW_DOT.sub(r"\1&#46;", value)
    return (_LINE_START if line_start else _NEXT_LINE_START).sub(_line_start, value)


def _line_start(match: re.Match[str]) -> str:
    indent, number, delimiter, mark = match.groups()
    if number:  # "1." or "1)" opens an ordered list: its dot or bracket becomes a reference
        return f"{indent}{number}&#{ord(delimiter)};"
    return f"{indent}&#{ord(mark)};"


def plain_text(markdown: str) -> str:
    """The characters `inert_markdown` turned into references, back as they were (for a terminal or a check)."""

    def repl(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            code = int(match.group(1))
            valid = 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF  # what a browser would not show as is
            return chr(code) if valid else match.group(0)
        return {"&amp;": "&", "&lt;": "<", "&gt;": ">"}[match.group(0)]

    return _REFERENCE.sub(repl, markdown)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(value: str) -> str:
    """Text for a terminal: control characters (a document's escape sequences) shown as \\xNN, never run."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", value)
