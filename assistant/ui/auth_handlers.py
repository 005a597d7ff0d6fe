"""Trainer login and logout in the app, as plain functions: the session lives server-side in `Sessions`, the
browser's state holds only its token.

    login(sessions, name, password, client, previous=None) -> LoginResult   token + message
    logout(sessions, token) -> LoginResult                                  token None + message
    client_address(request) -> str                                         the client a failure is counted on
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..auth import LoginRefused, Sessions

SIGNED_OUT = "Non hai effettuato l'accesso: puoi consultare, non modificare."


@dataclass(frozen=True)
class LoginResult:
    token: str | None
    message: str
    user: str | None = None


def login(sessions: Sessions, name: str, password: str, client: str, previous: str | None = None) -> LoginResult:
    """Open a trainer session; a refusal (wrong credentials, backoff, lockout) keeps `previous` and says why."""
    name = (name or "").strip()
    if not name or not password:
        return LoginResult(previous, "Inserisci utente e password.", sessions.trainer(previous))
    try:
        session = sessions.login(name, password, client)
    except LoginRefused as exc:
        return LoginResult(previous, str(exc), sessions.trainer(previous))
    if previous and previous != session.token:
        sessions.logout(previous)  # one session per browser tab
    return LoginResult(session.token, f"Accesso effettuato come formatore: **{session.user}**.", session.user)


def logout(sessions: Sessions, token: str | None) -> LoginResult:
    """End the session server-side: its token no longer allows any write, even if replayed."""
    user = sessions.logout(token)
    if user is None:
        return LoginResult(None, SIGNED_OUT)
    return LoginResult(None, f"Sei uscito ({user}). {SIGNED_OUT}")


def client_address(request: Any) -> str:
    """The client's IP address from a `gr.Request` (the app runs behind no proxy); "sconosciuto" without one."""
    client = getattr(request, "client", None)
    host = getattr(client, "host", None)
    return str(host) if host else "sconosciuto"
