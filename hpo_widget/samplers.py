"""Samplers and pruners by name, so forms, YAML specs and the CLI can pick them as plain strings.

Each worker process builds its own sampler from a :class:`SamplerSpec` (samplers hold RNG state
and are not meant to be shared across processes); workers get distinct seeds derived from the
user's seed so that parallel workers do not propose identical startup points.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna

if TYPE_CHECKING:
    from .space import SearchSpace

__all__ = [
    "PRUNERS",
    "SAMPLERS",
    "PrunerSpec",
    "SamplerSpec",
    "make_pruner",
    "make_sampler",
]

SAMPLERS: dict[str, str] = {
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "grid": "GridSampler",
    "cmaes": "CmaEsSampler",
    "qmc": "QMCSampler",
    "gp": "GPSampler",
    "nsgaii": "NSGAIISampler",
}
PRUNERS: dict[str, str | None] = {
    "none": None,
    "median": "MedianPruner",
    "successive_halving": "SuccessiveHalvingPruner",
    "hyperband": "HyperbandPruner",
}
_SEEDLESS = {"grid"}


def _unknown(kind: str, name: str, valid: list[str]) -> ValueError:
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(f"{kind}: unknown name {name!r}; choose one of {', '.join(valid)}.{hint}")


@dataclass(frozen=True)
class SamplerSpec:
    """Sampler by name plus keyword options for its Optuna class."""

    name: str = "tpe"
    options: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None

    def __post_init__(self) -> None:
        name = self.name.lower().replace("-", "_")
        if name not in SAMPLERS:
            raise _unknown("sampler", self.name, list(SAMPLERS))
        object.__setattr__(self, "name", name)
        if not isinstance(self.options, dict):
            raise ValueError("sampler_options: must be a mapping of keyword arguments")


@dataclass(frozen=True)
class PrunerSpec:
    """Pruner by name (``none`` disables pruning) plus keyword options."""

    name: str = "none"
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        name = (self.name or "none").lower().replace("-", "_")
        if name in ("nop", "no"):
            name = "none"
        if name not in PRUNERS:
            raise _unknown("pruner", self.name, list(PRUNERS))
        object.__setattr__(self, "name", name)
        if not isinstance(self.options, dict):
            raise ValueError("pruner_options: must be a mapping of keyword arguments")


def _grid_from_space(space: SearchSpace | None) -> dict[str, list[Any]]:
    from .space import CategoricalParam, FloatParam, IntParam

    if space is None or len(space) == 0:
        raise ValueError(
            "sampler: grid needs a search space; pass space=... or "
            "sampler_options={'search_space': {'x': [1, 2, 3]}}"
        )
    grid: dict[str, list[Any]] = {}
    for p in space:
        if isinstance(p, CategoricalParam):
            grid[p.name] = list(p.choices)
        elif isinstance(p, IntParam):
            grid[p.name] = list(range(int(p.low), int(p.high) + 1, int(p.step or 1)))
        elif isinstance(p, FloatParam) and p.step is not None:
            n = round((p.high - p.low) / p.step)
            grid[p.name] = [p.low + i * p.step for i in range(n + 1)]
        else:
            raise ValueError(
                f"sampler: grid cannot enumerate {p.name!r} (a float without step); "
                "give it a step or pass sampler_options={'search_space': {...}}"
            )
    return grid


def make_sampler(
    spec: SamplerSpec, *, space: SearchSpace | None = None, worker_index: int = 0
) -> optuna.samplers.BaseSampler:
    """Build the Optuna sampler for one worker; ``worker_index`` offsets the seed."""
    options = dict(spec.options)
    seed = options.pop("seed", spec.seed)
    if spec.name not in _SEEDLESS and seed is not None:
        options["seed"] = int(seed) + 7919 * worker_index
    cls = getattr(optuna.samplers, SAMPLERS[spec.name])
    if spec.name == "grid":
        search_space = options.pop("search_space", None) or _grid_from_space(space)
        if seed is not None:
            options["seed"] = int(seed)
        return cls(search_space, **options)
    try:
        return cls(**options)
    except ImportError as exc:
        raise ImportError(
            f"sampler: {spec.name!r} needs an optional package ({exc}); "
            "for 'gp' run `pip install torch` (CPU build is enough)"
        ) from exc
    except TypeError as exc:
        raise ValueError(f"sampler_options: {exc}") from None


def make_pruner(spec: PrunerSpec) -> optuna.pruners.BasePruner:
    cls_name = PRUNERS[spec.name]
    if cls_name is None:
        return optuna.pruners.NopPruner()
    try:
        pruner: optuna.pruners.BasePruner = getattr(optuna.pruners, cls_name)(**spec.options)
        return pruner
    except TypeError as exc:
        raise ValueError(f"pruner_options: {exc}") from None
