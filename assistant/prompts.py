"""Templates and user-facing sentences live as files in prompts/; rendering is strict (a missing variable fails)."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from string import Template

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


class TemplateError(KeyError):
    """A template asked for a variable that was not given."""


@lru_cache(maxsize=32)
def _template(name: str) -> Template:
    return Template((PROMPTS_DIR / name).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def strings() -> dict[str, str]:
    with (PROMPTS_DIR / "strings.toml").open("rb") as handle:
        return tomllib.load(handle)


def render(name: str, **values: object) -> str:
    """Render prompts/<name> with exactly these variables."""
    try:
        return _template(name).substitute(**values).strip()
    except KeyError as exc:
        raise TemplateError(f"template {name} needs variable {exc}") from None


def text(key: str, **values: object) -> str:
    """One sentence from prompts/strings.toml, with its variables filled in."""
    try:
        return Template(strings()[key]).substitute(**values)
    except KeyError as exc:
        raise TemplateError(f"string {key} needs {exc}") from None
