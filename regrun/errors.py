"""Errors a user can cause, reported as one line without a traceback."""
import math


class UserError(Exception):
    """A mistake in the user's input (config value, file, device). The message is shown as is."""


class Diverged(Exception):
    """A solver produced non-finite values."""


def check_choice(name: str, value, allowed) -> None:
    allowed = list(allowed)
    if value not in allowed:
        raise UserError(f"{name}={value!r} is not valid; allowed: {', '.join(map(str, allowed))}")


def check_int(name: str, value, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{name}={value!r} must be an integer >= {minimum}")
    if value < minimum:
        raise UserError(f"{name}={value} must be >= {minimum}")
    return value


def check_float(name: str, value, minimum: float | None = None, strict: bool = False,
                allow_inf: bool = False) -> float:
    """A number >= minimum (> with strict). NaN is never valid (every comparison with it is false, so it would
    slip past the bounds and e.g. make a tolerance that never stops a solver); +-inf only with allow_inf, for
    settings where it means "no limit"."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{name}={value!r} must be a number")
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise UserError(f"{name}={value} must be a finite number{' or inf' if allow_inf else ''}")
    if minimum is not None and (value < minimum or (strict and value == minimum)):
        raise UserError(f"{name}={value} must be {'>' if strict else '>='} {minimum}")
    return value
