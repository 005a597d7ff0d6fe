"""`assistant trainer hash`: a PBKDF2 hash for LC_TRAINER_USERS from a password read on standard input."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..auth import MIN_PASSWORD_CHARS, hash_password
from ..config import Settings
from ..errors import CliError
from .support import print_json


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


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    """The newest lines of the audit log (store=server): logins, lockouts, logouts, uploads, index changes."""
    from datetime import datetime

    from ..shared import SharedState

    if settings.store != "server":
        raise CliError("Il registro delle attività è tenuto solo con più istanze (LC_STORE=server).")
    lines = SharedState.open(settings).audit(args.limit)
    if args.json:
        print_json([{**line, "at": datetime.fromtimestamp(line["at"]).isoformat(timespec="seconds")} for line in lines])
        return 0
    for line in lines:
        when = datetime.fromtimestamp(line["at"]).strftime("%d/%m/%Y %H:%M:%S")
        print(f"{when}  {line['instance']}  {line['actor']}  {line['action']}  {line['target']}  {line['detail']}")
    return 0


def register(sub: Any) -> None:
    a = sub.add_parser("audit", help="registro delle attività (accessi, caricamenti, indice) con più istanze")
    a.add_argument("--limit", type=int, default=50, help="quante righe, dalle più recenti (predefinito 50)")
    a.add_argument("--json", action="store_true", help="in JSON")
    a.set_defaults(func=cmd_audit)
    p = sub.add_parser("trainer", help="account dei formatori: `assistant trainer hash` (password da stdin)")
    p.add_argument("action", choices=["hash"], help="hash: legge una password da stdin e stampa il suo hash")
    p.set_defaults(func=cmd_trainer)
