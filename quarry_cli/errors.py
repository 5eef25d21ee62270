"""The exit codes a script can rely on, and the one exception every command raises to use them."""

from __future__ import annotations

OK = 0
FAILED = 1  # some file FAILED, or nothing was found where something was asked for
USAGE = 2  # Click's own code for a usage error; also an argument the API refused (400)
UNREACHABLE = 3  # the API cannot be reached, or will not let us sign in


class CliError(Exception):
    """A failure the user can act on: printed as one line, then the process exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = FAILED):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
