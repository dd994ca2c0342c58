"""The errors the ML core raises; the service maps them to user-facing responses."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value (or a call argument such as a level) is invalid; the message names it."""


class InsufficientData(ValueError):
    """The series is too short for the requested operation."""

    def __init__(self, message: str, *, needed: int, available: int) -> None:
        super().__init__(message)
        self.needed = int(needed)
        self.available = int(available)


class CheckpointError(Exception):
    """A checkpoint is corrupt, has an unknown format, or fails its hash check."""


class TrainingStopped(Exception):
    """The on_epoch callback asked training to stop (e.g. a cancelled job)."""

    def __init__(self, message: str, *, epoch: int) -> None:
        super().__init__(message)
        self.epoch = int(epoch)


class TrainingFailed(Exception):
    """Training diverged (NaN/inf loss); the message says what the user can change."""
