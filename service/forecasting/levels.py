"""The interval-levels rule: the request schema, the CLI and GET /config all read it from here."""

from __future__ import annotations

from typing import Any

from service.errors import InvalidInput

LEVEL_MIN, LEVEL_MAX, MAX_LEVELS = 1, 99, 10
DEFAULT_LEVELS = (80, 95)
LEVELS_RULE = (f"1 to {MAX_LEVELS} interval levels, each a whole percent from {LEVEL_MIN} to {LEVEL_MAX} "
               f"(e.g. {list(DEFAULT_LEVELS)}, the default)")


def level_problem(levels: Any) -> str | None:
    """What is wrong with these interval levels (LEVELS_RULE), or None. Booleans are not numbers."""
    if not isinstance(levels, list | tuple):
        return f"{levels!r} is not a list of levels; give {LEVELS_RULE}"
    if not 1 <= len(levels) <= MAX_LEVELS:
        return f"{len(levels)} levels given; give {LEVELS_RULE}"
    for level in levels:
        if isinstance(level, bool) or not isinstance(level, int) or not LEVEL_MIN <= level <= LEVEL_MAX:
            return f"{level!r} is not allowed; give {LEVELS_RULE}"
    return None


def check_levels(levels: Any) -> tuple[int, ...]:
    """Validate interval levels; return them unique and ascending. None means the default."""
    if levels is None:
        return DEFAULT_LEVELS
    problem = level_problem(levels)
    if problem is not None:
        raise InvalidInput(f"levels: {problem}", details={"field": "levels", "value": levels})
    return tuple(sorted(set(levels)))

