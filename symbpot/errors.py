"""Errors raised by symbpot. The CLI turns each into one line and exit status 2."""


class SymbpotError(Exception):
    """Base class of every error symbpot raises on purpose."""


class DataError(SymbpotError):
    """A data file is missing, unreadable, or lacks what is needed (energies, pairs)."""


class ConfigError(SymbpotError):
    """An option has an invalid value (cutoff <= 0, unknown form, negative time limit)."""


class OutputError(SymbpotError):
    """An output path cannot be used (existing file, non-empty folder)."""


class PotentialFileError(SymbpotError):
    """A potential file (best.json) is missing, corrupt or of an unknown format."""


class SymbpotWarning(UserWarning):
    """Something the user should know that does not stop the work (the CLI prints one line)."""
