"""Trainer login and logout in the app, as plain functions: the session lives server-side in `Sessions`, the
browser's state holds only its token.

    login(sessions, name, password, client, previous=None) -> LoginResult   token + message
    logout(sessions, token) -> LoginResult                                  token None + message
    client_address(request) -> str                                         the client a failure is counted on
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import Any

from ..auth import LoginRefused, Sessions

log = logging.getLogger(__name__)
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


def client_address(request: Any, trusted_proxies: str = "") -> str:
    """The client's IP address from a `gr.Request`; "sconosciuto" without one.

    Behind reverse proxies listed in `LC_TRUSTED_PROXIES` (addresses or CIDR), the address is the rightmost one of
    X-Forwarded-For that is not a trusted proxy: failures are then counted per user, not once for the proxy."""
    client = getattr(request, "client", None)
    host = str(getattr(client, "host", None) or "")
    if not host:
        return "sconosciuto"
    networks = _networks(trusted_proxies)
    if not networks or not _trusted(host, networks):
        return host
    headers = getattr(request, "headers", None) or {}
    forwarded = [part.strip() for part in str(headers.get("x-forwarded-for", "")).split(",") if part.strip()]
    for address in reversed(forwarded):
        if not _trusted(address, networks):
            return address
    return forwarded[0] if forwarded else host


def _networks(value: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    found = []
    for item in (part.strip() for part in value.split(",")):
        if item:
            try:
                found.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                log.error("LC_TRUSTED_PROXIES: %r is not an address or network, ignored", item)
    return found


def _trusted(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
