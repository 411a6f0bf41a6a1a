"""The lesion methods of the quantification by name, the product's default, and the one resolver
that turns a name into a `lunglens.quant.LesionMethod`.

Two methods (issue 13): `learned`, the lesion map of the Polat et al. (2021) patch model
(`lunglens.quant.lesion_map.learned_method`, the bundled lesion model), and `hu_bands`, the HU
bands of Slicer's Lung CT Analyzer (`lunglens.quant.HUBandMethod`, a threshold estimate).
`DEFAULT_LESION_METHOD` is the one default of the command line, the batch and the viewer.

The learned method needs the lesion model; each `LesionMethods` loads it once (a `SharedModel`)
and `shared_lesion_methods` keeps one `LesionMethods` per lesion model and provider in the
process, so repeated analyses, the viewer's background jobs and a batch worker's jobs load it
once.

Fallback rule: when the learned map is asked for and its model cannot be loaded, `resolve` gives
the HU bands together with a warning that names the model file and the reason; the pipeline adds
that warning to the quantification's warnings and `quantification.method` says `hu_bands`. It
never falls back silently. Where a user named the method explicitly (`lunglens analyze
--lesion-method learned`, any `lunglens batch` with the learned method), the command checks the
model first (`LesionMethods.learned`) and stops with the `ModelError` instead."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lunglens.inference import ModelError, SharedModel
from lunglens.quant import HUBandMethod, LesionMethod
from lunglens.quant.bands import HU_BANDS
from lunglens.quant.lesion_map import LEARNED

LESION_METHODS = (LEARNED, HU_BANDS)
"""The names of the lesion methods, as `quantification.method` records them."""
LESION_METHOD_ALIASES = {"hu": HU_BANDS}
"""Older spellings still accepted (`--lesion-method hu`)."""
LESION_METHOD_LABELS = {LEARNED: "Learned lesion map", HU_BANDS: "HU bands (threshold estimate)"}

DEFAULT_LESION_METHOD = LEARNED
"""The lesion method of every front end unless the user chooses another."""


def lesion_method_name(name: str) -> str:
    """The canonical name of a lesion method (`LESION_METHODS`, or an alias of one); raises
    `ValueError` naming the choices."""
    canonical = LESION_METHOD_ALIASES.get(name, name)
    if canonical not in LESION_METHODS:
        raise ValueError(f"unknown lesion method {name!r}: choose one of {', '.join(LESION_METHODS)}")
    return canonical


@dataclass(frozen=True)
class ResolvedMethod:
    """The method that runs for a name, and the warning when it is not the one asked for."""

    method: LesionMethod
    warning: str = ""


def unavailable_warning(problem: ModelError) -> str:
    """What the quantification says when the learned map could not be used."""
    return (
        f"the learned lesion map was asked for but is unavailable ({problem}); the HU bands (a threshold "
        "estimate) were used instead"
    )


class LesionMethods:
    """Turns a lesion method name into a `LesionMethod`. `make_learned()` builds the learned method
    (loading its lesion model; raises `ModelError`); it runs at most once, on the first request
    of the learned method, and its method (or its error) is kept for every later request."""

    def __init__(self, make_learned: Callable[[], LesionMethod]):
        self._learned = SharedModel(make_learned)

    @property
    def loads(self) -> int:
        """How many times the learned method was built (0 or 1)."""
        return self._learned.loads

    def learned(self) -> LesionMethod:
        """The learned method; raises `ModelError` naming the model file when it cannot load."""
        return self._learned.get()

    def resolve(self, name: str) -> ResolvedMethod:
        """The method for `name` (canonical or alias). The learned one falls back to the HU bands
        with a warning when its model cannot load (the module's fallback rule)."""
        name = lesion_method_name(name)
        if name == HU_BANDS:
            return ResolvedMethod(HUBandMethod())
        try:
            return ResolvedMethod(self.learned())
        except ModelError as exc:
            return ResolvedMethod(HUBandMethod(), unavailable_warning(exc))


def bundled_learned_method(card: Path | None = None, provider: str = "auto") -> LesionMethod:
    """The learned method of the lesion model `card` (default: the bundled one) on `provider`;
    raises `ModelError`."""
    from lunglens.inference.lesion_model import load_lesion_model
    from lunglens.quant.lesion_map import learned_method

    return learned_method(load_lesion_model(card, provider=provider))


_SHARED: dict[tuple[str, str], LesionMethods] = {}
_SHARED_LOCK = threading.Lock()


def shared_lesion_methods(card: Path | None = None, provider: str = "auto") -> LesionMethods:
    """This process's `LesionMethods` for the lesion model `card` (default: the bundled one) on
    `provider`: one per (card, provider), so the model is loaded once per process."""
    key = (str(Path(card).resolve()) if card is not None else "", provider)
    with _SHARED_LOCK:
        methods = _SHARED.get(key)
        if methods is None:
            methods = _SHARED[key] = LesionMethods(lambda: bundled_learned_method(card, provider))
        return methods
