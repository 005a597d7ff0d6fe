"""Trainer login for the app: credentials from settings (hashed), the logged-in user kept in session state."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Settings


@dataclass(frozen=True)
class LoginResult:
    user: str | None
    message: str


def login(settings: Settings, name: str, password: str) -> LoginResult:
    """Check a trainer's password against `LC_TRAINER_USERS`; a wrong one gets a plain Italian message."""
    from ..auth import verify_trainer

    name = (name or "").strip()
    if not name or not password:
        return LoginResult(None, "Inserisci utente e password.")
    if verify_trainer(settings, name, password):
        return LoginResult(name, f"Accesso effettuato come formatore: **{name}**.")
    return LoginResult(None, "Utente o password non validi.")
