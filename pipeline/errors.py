"""One exception tree for Plico's own faults and for input it cannot read at all.

A bad *document* (an unsigned form, a missing photocopy) is data, not an exception: it
becomes an anomaly. Exceptions are for what Plico cannot do. Each class carries the exit
code the CLI returns for it; only the CLI turns exceptions into exit codes.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the `plico` command, documented in README.md."""

    OK = 0
    FAILURE = 1  # an unexpected fault in Plico itself
    USAGE = 2  # bad command line (typer's own code for usage errors)
    INPUT_NOT_FOUND = 3
    BAD_INPUT = 4  # corrupt, truncated, empty or of an unsupported type
    ENCRYPTED_INPUT = 5
    INPUT_TOO_LARGE = 6  # decompression bomb guard, page count or byte limits
    FORM_MODEL_INVALID = 7
    MISSING_DEPENDENCY = 8  # an external program (tesseract, zbar) is absent
    CONFIG = 9
    PARTIAL = 10  # the run finished but some inputs went to quarantine


class PlicoError(Exception):
    """Base of every error Plico raises on purpose."""

    exit_code: ExitCode = ExitCode.FAILURE


class ConfigError(PlicoError):
    exit_code = ExitCode.CONFIG


class FormModelError(PlicoError):
    """The form model data files are inconsistent (overlaps, out of page, duplicate ids)."""

    exit_code = ExitCode.FORM_MODEL_INVALID


class MissingDependencyError(PlicoError):
    exit_code = ExitCode.MISSING_DEPENDENCY


class InputError(PlicoError):
    """An input file Plico cannot read at all. The raw file is kept in quarantine."""

    exit_code = ExitCode.BAD_INPUT


class InputNotFoundError(InputError):
    exit_code = ExitCode.INPUT_NOT_FOUND


class EncryptedInputError(InputError):
    exit_code = ExitCode.ENCRYPTED_INPUT


class InputTooLargeError(InputError):
    exit_code = ExitCode.INPUT_TOO_LARGE


class UnsupportedInputError(InputError):
    exit_code = ExitCode.BAD_INPUT


class OrphanPageError(InputError):
    """A readable page that belongs to no kit (it comes before any label page or Modulo 1)."""
