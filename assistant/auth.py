"""Trainer logins: PBKDF2-SHA256 password hashes from settings (`LC_TRAINER_USERS`), never stored in the repo.

A hash reads `pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>`; `assistant trainer hash` makes one from a
password read on standard input. Only trainers may write curated answers (`require_trainer`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from .config import Settings
from .errors import UserError

log = logging.getLogger(__name__)

ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 260_000
MIN_ITERATIONS = 200_000
MIN_PASSWORD_CHARS = 8
# Verified against when the user is unknown, so a wrong user name costs as much time as a wrong password.
_DUMMY = f"{ALGORITHM}${MIN_ITERATIONS}${'00' * 16}${'00' * 32}"


class AuthError(UserError, ValueError):
    """Malformed trainer settings or hashes; the message is Italian and says how to fix them."""


def hash_password(password: str, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """A new PBKDF2-SHA256 hash with a random 16-byte salt."""
    if iterations < MIN_ITERATIONS:
        raise AuthError(f"Servono almeno {MIN_ITERATIONS} iterazioni PBKDF2 (richieste: {iterations}).")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{ALGORITHM}${iterations}${salt.hex()}${digest.hex()}"


def _parse_hash(encoded: str) -> tuple[int, bytes, bytes]:
    parts = encoded.split("$")
    try:
        if len(parts) != 4 or parts[0] != ALGORITHM:
            raise ValueError
        iterations, salt, digest = int(parts[1]), bytes.fromhex(parts[2]), bytes.fromhex(parts[3])
    except ValueError:
        raise AuthError(
            f"Hash non valido: atteso {ALGORITHM}$iterazioni$sale$hash (crealo con: assistant trainer hash)."
        ) from None
    if iterations < 1 or not salt or not digest:
        raise AuthError("Hash non valido: iterazioni, sale e hash devono essere presenti.")
    return iterations, salt, digest


def verify_password(password: str, encoded: str) -> bool:
    """True when `password` produces `encoded` (constant-time comparison)."""
    iterations, salt, digest = _parse_hash(encoded)
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations, dklen=len(digest))
    return hmac.compare_digest(candidate, digest)


def parse_trainer_users(value: str) -> dict[str, str]:
    """`user:hash,user2:hash` -> {user: hash}; a malformed entry is an AuthError naming it."""
    users: dict[str, str] = {}
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        user, sep, encoded = item.partition(":")
        user = user.strip()
        if not sep or not user or not encoded.strip():
            raise AuthError(
                f"LC_TRAINER_USERS non valido: la voce {item[:40]!r} non è nella forma utente:hash "
                "(crea l'hash con: assistant trainer hash)."
            )
        try:
            _parse_hash(encoded.strip())
        except AuthError as exc:
            raise AuthError(f"LC_TRAINER_USERS non valido per l'utente {user!r}: {exc}") from None
        users[user] = encoded.strip()
    return users


@dataclass(frozen=True)
class Trainers:
    """The trainer accounts: who may write curated answers."""

    hashes: dict[str, str]

    @classmethod
    def from_settings(cls, settings: Settings) -> Trainers:
        return cls(parse_trainer_users(settings.trainer_users))

    def is_trainer(self, user: str | None) -> bool:
        return bool(user) and user in self.hashes

    def authenticate(self, user: str, password: str) -> bool:
        """A Gradio-compatible `auth` callable: True for a trainer with the right password."""
        encoded = self.hashes.get(user)
        if encoded is None:
            verify_password(password, _DUMMY)
            return False
        return verify_password(password, encoded)


def verify_trainer(settings: Settings, user: str, password: str) -> bool:
    """True for a trainer of `LC_TRAINER_USERS` with this password; malformed settings refuse everyone (logged)."""
    try:
        return Trainers.from_settings(settings).authenticate(user, password)
    except AuthError as exc:
        log.error("trainer login refused, bad LC_TRAINER_USERS: %s", exc)
        return False


def require_trainer(user: str | None, trainers: Trainers) -> str:
    """The user, when a trainer; otherwise PermissionError with the Italian reason."""
    if not user:
        raise PermissionError(
            "Per modificare le risposte curate accedi come formatore: chi non ha un account da "
            "formatore può solo consultarle."
        )
    if not trainers.is_trainer(user):
        raise PermissionError(
            f"Solo i formatori possono modificare le risposte curate: l'utente {user!r} non è tra "
            "i formatori configurati (LC_TRAINER_USERS)."
        )
    return user


def login(trainers: Trainers, user: str | None, password: str | None) -> str:
    """A trainer whose password checks out (for the CLI's write commands); PermissionError otherwise."""
    user = require_trainer(user, trainers)
    if not password:
        raise PermissionError(
            "Manca la password del formatore: impostala nella variabile LC_TRAINER_PASSWORD "
            "oppure passala con --password-stdin."
        )
    if not trainers.authenticate(user, password):
        raise PermissionError(f"Password errata per il formatore {user!r}.")
    return user
