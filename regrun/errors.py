"""Errors a user can cause, reported as one line without a traceback."""


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


def check_float(name: str, value, minimum: float | None = None, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{name}={value!r} must be a number")
    value = float(value)
    if minimum is not None and (value < minimum or (strict and value == minimum)):
        raise UserError(f"{name}={value} must be {'>' if strict else '>='} {minimum}")
    return value
