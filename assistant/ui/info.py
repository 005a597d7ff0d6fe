"""The "Informazioni" tab: what the assistant is and is not, its sources and versions, how to report errors."""

from __future__ import annotations

from ..citations import kind_label
from .services import Services

ABOUT = """
## Che cos'è Lingua Comune

Lingua Comune è un **sistema automatico** che aiuta funzionari pubblici e operatori del Terzo settore a
orientarsi nell'amministrazione condivisa (co-programmazione, co-progettazione, accreditamento e convenzioni,
artt. 55-57 del Codice del Terzo settore). Cerca nei documenti indicizzati e risponde **citando alla lettera**
gli articoli, i commi e le pagine, con la data di versione di ogni testo.

**Informativa (art. 50 del Regolamento UE 2024/1689 sull'intelligenza artificiale):** stai interagendo con un
sistema automatico, non con una persona. Le risposte sono composte da un programma a partire dai testi citati.

## Che cosa non è

- **Non è una consulenza legale** e non sostituisce il parere di un esperto o gli uffici competenti.
- Non conosce documenti che non sono indicizzati: se le fonti non rispondono, lo dice.
- Non inventa testo di legge: le norme sono riportate tra virgolette, parola per parola.
- I materiali formativi spiegano le fonti ma **non sono fonti normative**; le definizioni del glossario sono
  scritte dal progetto a partire dalle norme citate.

## Come segnalare un errore

Usa il pollice in giù sotto la risposta e scrivi un commento: i formatori leggono le segnalazioni e le
trasformano in risposte curate. Le segnalazioni non modificano automaticamente il funzionamento dell'assistente.
"""


def about_markdown(services: Services) -> str:
    """The fixed text plus the list of sources actually indexed, with their versions and caveats."""
    lines = [ABOUT.strip(), "", "## Fonti indicizzate e versioni", ""]
    assistant = services.assistant
    if assistant is None:
        lines.append(services.unavailable or "L'indice non è disponibile.")
        return "\n".join(lines)
    documents = sorted(assistant.retriever.catalog.documents.values(), key=lambda d: (d.kind, d.title))
    lines += ["| Tipo | Documento | Riferimento ufficiale | Versione |", "|---|---|---|---|"]
    for info in documents:
        reference = (info.urn or info.identifier or "").replace("|", "/")
        lines.append(f"| {kind_label(info.kind)} | {info.title.replace('|', '/')} | {reference} | {info.version_text} |")
    caveats = [d for d in documents if d.caveats]
    if caveats:
        lines += ["", "### Avvertenze sulle versioni", ""]
        lines += [f"- **{d.ref}**: {d.caveats}" for d in caveats]
    return "\n".join(lines)
