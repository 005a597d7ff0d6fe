"""Print the settings table of the README from `Settings` (so the README cannot drift from the code)."""

from __future__ import annotations

import sys
from pathlib import Path

from .config import Settings


def settings_table() -> str:
    lines = ["| variable | default | description |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        if hasattr(default, "get_secret_value"):
            default = "" if not default.get_secret_value() else "(set)"
        if isinstance(default, dict):
            default = ", ".join(f"{k}={v}" for k, v in default.items())
        if isinstance(default, tuple):
            default = ", ".join(default)
        shown = f"`{default}`" if default not in ("", None) else "(empty)"
        lines.append(f"| `LC_{name.upper()}` | {shown} | {field.description or ''} |")
    return "\n".join(lines)


def sync_readme(path: Path) -> bool:
    """Put the current table between the README's markers; True when the file changed."""
    text = path.read_text(encoding="utf-8")
    start, end = "<!-- settings-table:start -->", "<!-- settings-table:end -->"
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    updated = f"{head}{start}\n{settings_table()}\n{end}{tail}"
    if updated != text:
        path.write_text(updated, encoding="utf-8")
    return updated != text


if __name__ == "__main__":
    if "--write-readme" in sys.argv:
        sync_readme(Path(__file__).resolve().parent.parent / "README.md")
    else:
        print(settings_table())
