"""Print the settings table of the README from `Settings` (so the README cannot drift from the code)."""

from __future__ import annotations

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


if __name__ == "__main__":
    print(settings_table())
