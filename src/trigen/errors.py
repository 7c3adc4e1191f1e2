"""Errors meant for people: the CLI prints ``str(err)`` as one line and exits non-zero."""


class TrigenError(Exception):
    """Base of every error trigen raises on purpose; its message says what was wrong and the fix."""


class DataError(TrigenError):
    """A dataset is missing, empty, corrupt or of the wrong shape."""


class ConfigError(TrigenError):
    """An unknown name, an out-of-range value or an inconsistent combination of options."""


class CheckpointError(TrigenError):
    """A checkpoint is missing, truncated, altered or belongs to another model."""
