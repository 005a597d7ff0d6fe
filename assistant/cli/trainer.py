"""`assistant trainer hash`: a PBKDF2 hash for LC_TRAINER_USERS from a password read on standard input."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..auth import MIN_PASSWORD_CHARS, hash_password
from ..config import Settings
from ..errors import CliError


def cmd_trainer(args: argparse.Namespace, settings: Settings) -> int:
    password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_PASSWORD_CHARS:
        raise CliError(f"La password deve avere almeno {MIN_PASSWORD_CHARS} caratteri (letta da standard input).")
    encoded = hash_password(password)
    print(encoded)
    print(
        f"Aggiungi il formatore con LC_TRAINER_USERS='nome:{encoded}' (più formatori separati da virgole).",
        file=sys.stderr,
    )
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("trainer", help="account dei formatori: `assistant trainer hash` (password da stdin)")
    p.add_argument("action", choices=["hash"], help="hash: legge una password da stdin e stampa il suo hash")
    p.set_defaults(func=cmd_trainer)
