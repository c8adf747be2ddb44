"""Errors a user can cause, reported as one line without a traceback."""
import math


class UserError(Exception):
    """A mistake in the user's input (config value, file, device). The message is shown as is."""


class Diverged(Exception):
    """A solver produced non-finite values."""


def check_choice(name: str, value, allowed) -> None:
    allowed = list(allowed)
    # 1 == True in Python, but `problem.gain=1` is not a YAML boolean: a boolean choice takes booleans only
    if not any(value == a and isinstance(value, bool) == isinstance(a, bool) for a in allowed):
        raise UserError(f"{name}={_as_yaml(value, repr)} is not valid; allowed: "
                        f"{', '.join(_as_yaml(a, str) for a in allowed)}" + _nearest(value, allowed))


def _as_yaml(value, other) -> str:
    """true/false/null as YAML and the command line spell them (Python's True was shown), else other(value)."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return other(value)


# Another name a user has for an allowed word, which spelling cannot find: the weight rule's name in the literature
# (`lam_rule=morozov` was "allowed: discrepancy, gcv, sure" without a hint) and a GPU by its kind (`device=gpu` was
# "did you mean 'cpu'?", newuser21).
SYNONYMS = {"morozov": "discrepancy", "gpu": "cuda", "similarity": "affine", "lcurve": "gcv", "l-curve": "gcv",
            "l_curve": "gcv"}
# why the synonym is offered where it is not the same thing: `motion_model=similarity` was listed the models, and
# `lam_rule=lcurve` told "did you mean 'sure'?", a rule that needs the noise level (newuser22)
SYNONYM_NOTES = {"similarity": "regrun has no similarity model (turn, scale, shift); affine holds it",
                 "lcurve": "regrun has no L-curve rule; gcv, the default, needs no noise level either",
                 "l-curve": "regrun has no L-curve rule; gcv, the default, needs no noise level either",
                 "l_curve": "regrun has no L-curve rule; gcv, the default, needs no noise level either"}


def _nearest(value, allowed) -> str:
    """`; did you mean 'files'?` where the value is another spelling of one allowed: its case (`LM`), a near
    miss (`file` where the registration says `files` and CT `file`: userpass3), or another name for it (SYNONYMS)."""
    import difflib

    words = [str(a) for a in allowed]
    text = str(value)
    if SYNONYMS.get(text.lower()) in words:
        note = SYNONYM_NOTES.get(text.lower())
        return f"; did you mean {SYNONYMS[text.lower()]!r}?" + (f" ({note})" if note else "")
    same_case = [w for w in words if w.lower() == text.lower()]
    near = same_case or difflib.get_close_matches(text, words, n=1, cutoff=0.6)
    return f"; did you mean {near[0]!r}?" if near else ""


def check_int(name: str, value, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        # `solver.max_iter=1e3` reaches here as the float 1000.0, which the user never wrote (newuser5)
        whole = isinstance(value, float) and value.is_integer() and abs(value) < 1e15
        raise UserError(f"{name}={value!r} must be an integer >= {minimum}"
                        + (f" (written with a point or an exponent it reads as a float: write {int(value)})" if whole else ""))
    if value < minimum:
        raise UserError(f"{name}={value} must be >= {minimum}")
    return value


def check_float(name: str, value, minimum: float | None = None, strict: bool = False,
                allow_inf: bool = False, maximum: float | None = None) -> float:
    """A number >= minimum (> with strict) and <= maximum. NaN is never valid (every comparison with it is
    false, so it would slip past the bounds and e.g. make a tolerance that never stops a solver); +-inf only
    with allow_inf, for settings where it means "no limit"."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{name}={value!r} must be a number")
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise UserError(f"{name}={value} must be a finite number{' or inf' if allow_inf else ''}")
    if minimum is not None and (value < minimum or (strict and value == minimum)):
        raise UserError(f"{name}={value} must be {'>' if strict else '>='} {minimum}")
    if maximum is not None and value > maximum:
        raise UserError(f"{name}={value:g} is beyond the meaningful range; it must be <= {maximum:g}")
    return value


def check_bool(name: str, value) -> bool:
    """A true/false switch: YAML's booleans only (a string such as 'maybe' or a list is a mistake)."""
    if not isinstance(value, bool):
        raise UserError(f"{name}={value!r} must be true or false")
    return value


def check_numbers(name: str, value, length: int | None = None, integer: bool = False) -> tuple:
    """A list of finite numbers (of `length` entries when given), e.g. a domain [lo1, hi1, lo2, hi2]."""
    kind = "integers" if integer else "numbers"
    shape = f"{length} {kind}" if length else f"a list of {kind}"
    items = list(value) if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig" else None
    if items is None or (length is not None and len(items) != length):
        raise UserError(f"{name}={value!r} must be {shape}")
    for item in items:
        ok = isinstance(item, int) if integer else isinstance(item, (int, float))
        if isinstance(item, bool) or not ok or not math.isfinite(item):
            raise UserError(f"{name}={list(items)!r}: {item!r} is not a finite {kind[:-1]}; it must be {shape}")
    return tuple(items)


def check_truth_varies(name: str, arr) -> None:
    """A truth a metric can be measured against: PSNR and SSIM take the truth's range. A constant truth (an
    all-zero stand-in array) ran the whole solve, then failed in the evaluation with "ValueError: math domain
    error", exit 1, in super-resolution and in CT (newuser20)."""
    if arr.numel() if hasattr(arr, "numel") else arr.size:
        top, low = float(arr.max()), float(arr.min())
        if top == low:
            raise UserError(f"{name} is constant (every value {top:g}): PSNR and SSIM are measured against the "
                            "truth's range; give the scene's truth, or leave it out")
