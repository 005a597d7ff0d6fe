"""User-facing errors and the one renderer of check reports, shared by the command line and the app.

Every error whose message is Italian text for the user derives from `UserError`: the CLI prints it as
`Errore: <message>` (exit 1) and the app shows it as a warning, without a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class UserError(Exception):
    """An error whose message is Italian, says what went wrong with the offending value, and names the fix."""


class CliError(UserError):
    """A command-line usage error: printed as `Errore: <message>` with exit status 1."""


@dataclass(frozen=True)
class CheckReport:
    """The outcome of a `... check` command: its problems, or the sentence that says all is well."""

    problems: tuple[str, ...]
    failure: str
    success: str
    notes: tuple[str, ...] = ()  # information printed either way (coverage, figures)

    @classmethod
    def of(cls, problems: Sequence[str], failure: str, success: str, notes: Sequence[str] = ()) -> CheckReport:
        return cls(tuple(problems), failure, success, tuple(notes))

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """One `Errore:` line per problem and the summary, or the success sentence alone."""
        if self.ok:
            return [self.success]
        return [*(f"Errore: {problem}" for problem in self.problems), self.failure]

    def text(self) -> str:
        return "\n".join(self.lines())
