"""Name registries for problems and solvers, and the check that a solver fits a problem.

A problem class declares `offers` (capabilities such as "least_squares", "scale_path", "separable"); a solver
class declares `needs`. A solver fits a problem when every need is offered, and, if the solver names
`problems`, the problem is one of them.
"""
from __future__ import annotations

import importlib

from .errors import UserError


class Registry:
    """`builtins`: the package whose modules register the built-in entries. They are imported by name on first
    lookup, as a plugin would be, so the registry (a core module) depends on no problem or solver code. The package
    lists its modules in `MODULES`; a lookup of a name that is one of them imports that module alone (a crab
    detection imports no CT, registration or super-resolution code: 0.4-0.5 CPU-s of a run's start-up,
    docs/detection.md, "Where a whole run's time goes"), anything else imports them all."""

    def __init__(self, kind: str, builtins: str):
        self.kind = kind
        self.builtins = builtins
        self._items: dict[str, type] = {}

    def register(self, name: str):
        def decorate(cls):
            if name in self._items and self._items[name] is not cls:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            cls.name = name
            self._items[name] = cls
            return cls

        return decorate

    def _load(self, name: str | None = None) -> None:
        """Import the built-in module `name` (when the package lists one of that name), else every one."""
        modules = getattr(importlib.import_module(self.builtins), "MODULES", ())
        for module in [name] if name in modules else modules:
            importlib.import_module(f"{self.builtins}.{module}")

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def get(self, name: str) -> type:
        if name not in self._items:
            self._load(name)
        if name not in self._items:  # registered under another name than its module's, or unknown
            self._load()
        if name not in self._items:
            raise UserError(f"unknown {self.kind} {name!r}; valid {self.kind}s: {', '.join(self.names())}")
        return self._items[name]


PROBLEMS = Registry("problem", "regrun.problems")
SOLVERS = Registry("solver", "regrun.solvers")


def register_problem(name: str):
    return PROBLEMS.register(name)


def register_solver(name: str):
    return SOLVERS.register(name)


def fits(problem_cls: type, solver_cls: type) -> bool:
    allowed = getattr(solver_cls, "problems", None)
    if allowed is not None and problem_cls.name not in allowed:
        return False
    return set(solver_cls.needs) <= set(problem_cls.offers)


def solvers_for(problem_name: str) -> list[str]:
    problem_cls = PROBLEMS.get(problem_name)
    return [n for n in SOLVERS.names() if fits(problem_cls, SOLVERS.get(n))]


def check_pair(problem_name: str, solver_name: str) -> tuple[type, type]:
    """Return (problem class, solver class) or raise a UserError naming the solvers that would fit."""
    problem_cls = PROBLEMS.get(problem_name)
    solver_cls = SOLVERS.get(solver_name)
    if not fits(problem_cls, solver_cls):
        missing = sorted(set(solver_cls.needs) - set(problem_cls.offers))
        why = f"it needs {', '.join(missing)}" if missing else f"it serves only {', '.join(solver_cls.problems)}"
        raise UserError(
            f"solver {solver_name!r} does not fit problem {problem_name!r} ({why}); "
            f"solvers that fit: {', '.join(solvers_for(problem_name)) or 'none'}"
        )
    return problem_cls, solver_cls

