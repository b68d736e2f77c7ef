"""One exception family for everything genolewm rejects.

Every message names the file, config key, record or window at fault and says
how to fix it, so the command line can print it as a single line.
"""


class GenolewmError(Exception):
    """Base class: bad configuration, bad input or a broken data contract."""


class ConfigError(GenolewmError):
    """A config value is invalid (names the key and the allowed values)."""


class InputError(GenolewmError):
    """An input file is missing, unreadable, unindexed or inconsistent."""


class EditError(GenolewmError):
    """An edit is malformed, out of bounds or disagrees with the reference."""


class ShortfallError(GenolewmError):
    """A source without a fallback could not fill its quota in a window."""


class ContractError(GenolewmError, ValueError):
    """A value type was given a field that breaks the data contract (names the field)."""


class AuditError(GenolewmError):
    """A finished run contradicts its config, its inputs or its manifest."""


class Abort(BaseException):
    """An error that ends the command at once, raised past Hydra.

    Hydra turns an ``Exception`` in a callback into a warning, and reports a
    failed single run a second time; the command prints this as its one line.
    """

    def __init__(self, error: GenolewmError) -> None:
        super().__init__(str(error))
