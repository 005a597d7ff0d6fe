"""Trainer logins: PBKDF2-SHA256 password hashes from settings (`LC_TRAINER_USERS`), never stored in the repo.

A hash reads `pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>`; `assistant trainer hash` makes one from a
password read on standard input. Only trainers may write curated answers (`require_trainer`).

In the app, `Sessions` guards the login and keeps the sessions server-side: failed logins are counted per user
name and per client address (`LoginGuard`: exponential backoff, then a temporary lockout, refused before any
hashing), at most `HASHING_SLOTS` password checks run at once, and a login opens a session (random token,
absolute expiry after `LC_SESSION_MINUTES`) that `Esci` ends. Handlers ask `Sessions.trainer(token)` (or
`Sessions.require(token)` for writes) who is behind a session.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .auth_store import BUSY_SECONDS, DbFailures, DbSessions, MemoryFailures, MemorySessions, Session, _Failures
from .config import Settings
from .errors import UserError

log = logging.getLogger(__name__)

ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 260_000
MIN_ITERATIONS = 200_000
MIN_PASSWORD_CHARS = 8
# Verified against when the user is unknown, so a wrong user name costs as much time as a wrong password.
_DUMMY = f"{ALGORITHM}${ITERATIONS}${'00' * 16}${'00' * 32}"
Clock = Callable[[], float]
HASHING_SLOTS = 2  # password checks running at once: a burst of logins cannot take every core
HASHING_WAIT_SECONDS = 10.0
BAD_CREDENTIALS = "Utente o password non validi."  # the same for an unknown user: no user enumeration
SESSION_EXPIRED = "Sessione scaduta: accedi di nuovo."
NOT_SIGNED_IN = (
    "Per modificare le risposte curate accedi come formatore: chi non ha un account da formatore può solo consultarle."
)


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
    """The trainer accounts: who may write curated answers, and whether they may approve their own."""

    hashes: dict[str, str]
    forbid_self_approval: bool = True  # LC_FORBID_SELF_APPROVAL: passed to `CuratedStore.approve`

    @classmethod
    def from_settings(cls, settings: Settings) -> Trainers:
        return cls(parse_trainer_users(settings.trainer_users), settings.forbid_self_approval)

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
        raise PermissionError(NOT_SIGNED_IN)
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


# --- guarded logins and server-side sessions ------------------------------------------------------------


class LoginRefused(PermissionError):
    """A login attempt refused; the message is Italian and says how long to wait when that is the reason."""


def wait_text(seconds: float) -> str:
    """A wait in Italian, rounded up: "1 secondo", "8 secondi", "15 minuti"."""
    if seconds <= 90:
        whole = max(1, math.ceil(seconds))
        return "1 secondo" if whole == 1 else f"{whole} secondi"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minuti"


class LoginGuard:
    """Failed logins per user name and per client: exponential backoff, then a temporary lockout.

    After failure n the user and the client wait `backoff_base * 2**(n-1)` seconds; from `max_failures` they are
    locked out for `lockout_seconds`. A blocked attempt is refused before any hashing, so guessing costs no CPU;
    a success clears both counters; counters are forgotten once `lockout_seconds` pass without failures.
    Thread-safe; `clock` (seconds) is injectable so tests need no sleeping.
    """

    MAX_RECORDS = 10_000

    def __init__(
        self,
        max_failures: int = 5,
        lockout_seconds: float = 900.0,
        backoff_base_seconds: float = 1.0,
        clock: Clock = time.monotonic,
        store: MemoryFailures | DbFailures | None = None,
    ) -> None:
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds
        self.backoff_base_seconds = backoff_base_seconds
        self._clock = clock
        self._store: MemoryFailures | DbFailures = store if store is not None else MemoryFailures()

    @property
    def _records(self) -> dict[str, _Failures]:
        return self._store.records

    @classmethod
    def from_settings(
        cls, settings: Settings, clock: Clock = time.monotonic, store: MemoryFailures | DbFailures | None = None
    ) -> LoginGuard:
        return cls(
            settings.login_max_failures,
            float(settings.login_lockout_seconds),
            settings.login_backoff_base_seconds,
            clock,
            store,
        )

    @staticmethod
    def _keys(user: str, client: str) -> tuple[str, str]:
        return f"user:{user.strip().casefold()}", f"client:{client}"

    def _delay(self, count: int) -> float:
        if count >= self.max_failures:
            return self.lockout_seconds
        return float(min(self.backoff_base_seconds * 2 ** (count - 1), self.lockout_seconds))

    def _refusal(self, record: _Failures, now: float) -> str:
        wait = wait_text(record.blocked_until - now)
        if record.count >= self.max_failures:
            return f"Accesso bloccato per troppi tentativi falliti: riprova tra {wait}."
        return f"Troppi tentativi di accesso falliti: riprova tra {wait}."

    def _stale(self, record: _Failures, now: float) -> bool:
        return record.busy_until <= now and now >= record.blocked_until and now - record.last >= self.lockout_seconds

    def begin(self, user: str, client: str) -> str | None:
        """The Italian refusal while the user or the client must wait; None: check the password now, then `end`."""
        keys = self._keys(user, client)
        with self._store.editing(keys) as all_records:
            now = self._clock()
            if len(all_records) > self.MAX_RECORDS:
                self._sweep(now)
            records = [all_records.get(key) for key in keys]
            blocked = [r for r in records if r is not None and r.blocked_until > now]
            if blocked:
                return self._refusal(max(blocked, key=lambda r: r.blocked_until), now)
            if any(r is not None and r.busy_until > now for r in records):
                return "Un altro tentativo di accesso è in corso: riprova tra qualche secondo."
            for key in keys:
                record = all_records.get(key)
                if record is None or self._stale(record, now):
                    record = all_records[key] = _Failures()
                record.busy_until = now + BUSY_SECONDS
            return None

    def end(self, user: str, client: str, ok: bool | None) -> str:
        """Record the outcome of an attempt `begin` let through (None: not checked); the message for a failure."""
        keys = self._keys(user, client)
        with self._store.editing(keys) as all_records:
            now = self._clock()
            for key in keys:
                all_records.setdefault(key, _Failures()).busy_until = 0.0
            if ok is None:
                return ""
            if ok:
                for key in keys:
                    all_records.pop(key, None)
                return ""
            worst = all_records[keys[0]]
            for key in keys:
                record = all_records[key]
                record.count, record.last = record.count + 1, now
                record.blocked_until = now + self._delay(record.count)
                worst = max(worst, record, key=lambda r: r.blocked_until)
        wait = wait_text(worst.blocked_until - now)
        if worst.count >= self.max_failures:
            log.warning("login lockout: user %r or client %s after %d failures", user, client, worst.count)
            return f"{BAD_CREDENTIALS} Troppi tentativi falliti: accesso bloccato per {wait}."
        return f"{BAD_CREDENTIALS} Puoi riprovare tra {wait}." if worst.blocked_until > now else BAD_CREDENTIALS

    def _sweep(self, now: float) -> None:
        """Forget stale counters; under a flood of names, also the oldest half (in memory, under its lock)."""
        records = self._store.records
        fresh = {k: r for k, r in records.items() if not self._stale(r, now)}
        if len(fresh) > self.MAX_RECORDS:
            fresh = dict(sorted(fresh.items(), key=lambda item: item[1].last)[len(fresh) // 2 :])
        records.clear()
        records.update(fresh)


class Sessions:
    """The app's trainer sessions: the guarded login that opens them, their expiry, the logout that ends them.

    One instance per app (shared by every browser session). A session lasts `minutes` from login, whatever
    happens in between; `clock` (seconds) is injectable so tests need no sleeping. With the store on a server the
    sessions, the failure counters and the audit live in the shared database (`from_settings`).
    """

    def __init__(
        self,
        trainers: Trainers,
        guard: LoginGuard,
        minutes: float = 480.0,
        clock: Clock = time.monotonic,
        hashing_slots: int = HASHING_SLOTS,
        hashing_wait: float = HASHING_WAIT_SECONDS,
        store: MemorySessions | DbSessions | None = None,
        audit: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.trainers = trainers
        self.guard = guard
        self.minutes = minutes
        self.clock = clock
        self.hashing_wait = hashing_wait
        self._store: MemorySessions | DbSessions = store if store is not None else MemorySessions()
        self._audit = audit or (lambda actor, action, detail: None)
        self._hashing = threading.BoundedSemaphore(hashing_slots)

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> Sessions:
        """Sessions for `LC_TRAINER_USERS`; malformed settings refuse every login (logged). With the store on a
        server: sessions, lockouts and the audit in the shared database, on the wall clock."""
        try:
            trainers = Trainers.from_settings(settings)
        except AuthError as exc:
            log.error("trainer logins disabled, bad LC_TRAINER_USERS: %s", exc)
            trainers = Trainers({}, settings.forbid_self_approval)
        if settings.store != "server":
            clock = clock or time.monotonic
            return cls(trainers, LoginGuard.from_settings(settings, clock), float(settings.session_minutes), clock)
        from .shared import SharedState

        shared = SharedState.open(settings)
        clock = clock or time.time
        return cls(
            trainers,
            LoginGuard.from_settings(settings, clock, DbFailures(shared.engine)),
            float(settings.session_minutes),
            clock,
            store=DbSessions(shared.engine),
            audit=lambda actor, action, detail: shared.record(actor, action, "", detail),
        )

    def login(self, user: str, password: str, client: str) -> Session:
        """A new session for a trainer whose password checks out; LoginRefused with the Italian reason otherwise."""
        user = (user or "").strip()
        refusal = self.guard.begin(user, client)
        if refusal:
            log.info("login refused without checking: user %r from %s (backoff or lockout)", user, client)
            self._audit(user, "accesso rifiutato", f"{client}: {refusal}")
            raise LoginRefused(refusal)
        ok: bool | None = None
        try:
            if not self._hashing.acquire(timeout=self.hashing_wait):
                log.warning("login refused: every password-check slot busy for %.0f s", self.hashing_wait)
                raise LoginRefused("Troppi accessi in corso: riprova tra qualche secondo.")
            try:
                ok = self.trainers.authenticate(user, password or "")
            finally:
                self._hashing.release()
        finally:
            message = self.guard.end(user, client, ok)
        if not ok:
            log.info("login failed: user %r from %s", user, client)
            self._audit(user, "accesso fallito", f"{client}: {message}")
            raise LoginRefused(message)
        self._audit(user, "accesso", client)
        return self._open_session(user)

    def _open_session(self, user: str) -> Session:
        now = self.clock()
        session = Session(secrets.token_urlsafe(32), user, now + self.minutes * 60)
        # Expired sessions are kept one more session length, so a late click still hears "Sessione scaduta".
        self._store.add(session, now - self.minutes * 60)
        log.info("trainer %r logged in", user)
        return session

    def _current(self, token: str | None) -> tuple[Session | None, bool]:
        """(the session of `token`, whether it has expired)."""
        if not token:
            return None, False
        session = self._store.get(token)
        if session is None:
            return None, False
        return session, self.clock() >= session.expires_at

    def trainer(self, token: str | None) -> str | None:
        """The trainer behind a valid, unexpired session token; None for anyone else."""
        session, expired = self._current(token)
        if session is None or expired or not self.trainers.is_trainer(session.user):
            return None
        return session.user

    def require(self, token: str | None, refusal: str = NOT_SIGNED_IN) -> str:
        """The trainer behind `token`, for a write; PermissionError otherwise: SESSION_EXPIRED or `refusal`."""
        session, expired = self._current(token)
        if session is not None and expired:
            raise PermissionError(SESSION_EXPIRED)
        user = self.trainer(token)
        if user is None:
            raise PermissionError(refusal)
        return user

    def logout(self, token: str | None) -> str | None:
        """End the session server-side; the user whose session it was (None if there was none)."""
        session = self._store.pop(token) if token else None
        if session is not None:
            log.info("trainer %r logged out", session.user)
            self._audit(session.user, "uscita", "")
        return session.user if session else None
