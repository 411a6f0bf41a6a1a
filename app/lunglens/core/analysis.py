"""The analysis of one series: select, classify the kept slices, decide. One serialisable
`Analysis` that the viewer, the command line (JSON) and the PDF report all read. Changing the
operating point re-runs only `decide` (`Analysis.redecide`), never the model."""

from __future__ import annotations

import base64
import json
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone

import numpy as np

from lunglens import __version__
from lunglens.core.decision import Decision, DecisionParams, decide
from lunglens.core.selector import SelectorParams, select_slices
from lunglens.inference.predict import BatchProgress, CancelFlag, classify
from lunglens.io.series import Series

ANALYSIS_FORMAT = 1


@dataclass(frozen=True)
class AnalysisOptions:
    """What to run: the selector's and the decision's parameters, and whether to classify every
    slice (to show what the selector saved) rather than only the kept ones."""

    selector: SelectorParams = SelectorParams()
    decision: DecisionParams = DecisionParams()
    all_slices: bool = False


@dataclass(frozen=True)
class SliceRecord:
    """One slice of the analysis. `p_covid` is None for slices not classified."""

    index: int
    position_mm: float
    dark_pixel_count: int
    kept: bool
    p_covid: float | None
    positive: bool


@dataclass(frozen=True)
class Analysis:
    """Everything one analysis found, with what is needed to reproduce and report it.

    Arrays run over all slices of the series (index 0 most superior): `p_covid` is NaN where a
    slice was not classified; `cams` is float16 [n_slices, h, w], zero where not classified."""

    series: dict
    """key, description, folder, slices, pixel spacing and thickness (mm), orientation, warnings."""
    positions_mm: np.ndarray
    dark_pixel_counts: np.ndarray
    selector_threshold: float
    kept: np.ndarray
    p_covid: np.ndarray
    cams: np.ndarray
    decision: Decision
    selector: SelectorParams
    model: dict
    """name, version, sha256, class names, covid index, cam size, provenance kind."""
    provider: dict
    """requested, used, label, reason."""
    versions: dict
    timings_s: dict
    created: str
    all_slices: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def n_slices(self) -> int:
        return int(len(self.kept))

    @property
    def classified(self) -> np.ndarray:
        return ~np.isnan(self.p_covid)

    def redecide(self, params: DecisionParams) -> Analysis:
        """The same analysis at another operating point (no model call; instant)."""
        return replace(self, decision=decide(self.p_covid, self.kept, params))

    def records(self) -> list[SliceRecord]:
        return [
            SliceRecord(
                index=i,
                position_mm=float(self.positions_mm[i]),
                dark_pixel_count=int(self.dark_pixel_counts[i]),
                kept=bool(self.kept[i]),
                p_covid=None if np.isnan(self.p_covid[i]) else float(self.p_covid[i]),
                positive=bool(self.decision.positive[i]),
            )
            for i in range(self.n_slices)
        ]

    # --- JSON -----------------------------------------------------------------------------
    def to_dict(self, include_cams: bool = True) -> dict:
        data = {
            "format": ANALYSIS_FORMAT,
            "created": self.created,
            "series": self.series,
            "model": self.model,
            "provider": self.provider,
            "versions": self.versions,
            "timings_s": self.timings_s,
            "all_slices": self.all_slices,
            "selector": {"params": asdict(self.selector), "threshold": self.selector_threshold},
            "decision": {
                "params": asdict(self.decision.params),
                "k_positive": self.decision.k_positive,
                "n_kept": self.decision.n_kept,
                "verdict": self.decision.verdict,
                "covid": self.decision.covid,
            },
            "slices": [asdict(r) for r in self.records()],
            "extra": self.extra,
        }
        if include_cams:
            data["cams"] = {
                "dtype": "float16",
                "shape": list(self.cams.shape),
                "base64": base64.b64encode(np.ascontiguousarray(self.cams, "<f2").tobytes()).decode("ascii"),
            }
        return data

    def to_json(self, include_cams: bool = True) -> str:
        return json.dumps(self.to_dict(include_cams), indent=1)

    @classmethod
    def from_dict(cls, data: dict) -> Analysis:
        slices = data["slices"]
        n = len(slices)
        cam_size = tuple(data["model"]["cam_size"])
        if "cams" in data:
            cams = np.frombuffer(base64.b64decode(data["cams"]["base64"]), "<f2")
            cams = cams.reshape(data["cams"]["shape"]).astype(np.float16)
        else:
            cams = np.zeros((n, *cam_size), np.float16)
        p_covid = np.array([np.nan if s["p_covid"] is None else s["p_covid"] for s in slices], float)
        kept = np.array([s["kept"] for s in slices], bool)
        return cls(
            series=data["series"],
            positions_mm=np.array([s["position_mm"] for s in slices], float),
            dark_pixel_counts=np.array([s["dark_pixel_count"] for s in slices], np.int64),
            selector_threshold=float(data["selector"]["threshold"]),
            kept=kept,
            p_covid=p_covid,
            cams=cams,
            decision=decide(p_covid, kept, DecisionParams(**data["decision"]["params"])),
            selector=SelectorParams(**data["selector"]["params"]),
            model=data["model"],
            provider=data["provider"],
            versions=data["versions"],
            timings_s=data["timings_s"],
            created=data["created"],
            all_slices=data["all_slices"],
            extra=data.get("extra", {}),
        )

    @classmethod
    def from_json(cls, text: str) -> Analysis:
        return cls.from_dict(json.loads(text))


def _versions() -> dict:
    import onnxruntime
    import pydicom

    return {
        "lunglens": __version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
        "pydicom": pydicom.__version__,
        "python": platform.python_version(),
    }


def series_summary(series: Series) -> dict:
    ref = series.ref
    return {
        "key": ref.key,
        "description": ref.description,
        "folder": str(ref.folder),
        "slices": series.n_slices,
        "rows": int(series.hu.shape[1]),
        "columns": int(series.hu.shape[2]),
        "pixel_spacing_mm": list(series.pixel_spacing_mm),
        "slice_spacing_mm": series.slice_spacing_mm,
        "slice_thickness_mm": ref.slice_thickness_mm,
        "orientation": ref.orientation,
        "source_format": ref.source_format,
        "warnings": list(series.warnings),
    }


def analyze(
    series: Series,
    model,
    options: AnalysisOptions = AnalysisOptions(),
    *,
    progress: BatchProgress | None = None,
    cancel: CancelFlag | None = None,
    load_seconds: float | None = None,
) -> Analysis:
    """Select the lung-open slices of `series`, classify them (or all slices) with `model`
    (a `lunglens.inference.Model`) and decide. Raises `Cancelled` if `cancel` is set."""
    timings = {} if load_seconds is None else {"load": round(load_seconds, 4)}
    start = time.perf_counter()
    selection = select_slices(series.hu, options.selector)
    timings["select"] = round(time.perf_counter() - start, 4)

    start = time.perf_counter()
    to_classify = np.arange(series.n_slices) if options.all_slices else selection.kept_indices
    p_some, cam_some = classify(model, series.hu, to_classify, progress=progress, cancel=cancel)
    p_covid = np.full(series.n_slices, np.nan)
    p_covid[to_classify] = p_some
    cams = np.zeros((series.n_slices, *model.card.cam_size), np.float16)
    cams[to_classify] = cam_some
    timings["classify"] = round(time.perf_counter() - start, 4)

    start = time.perf_counter()
    decision = decide(p_covid, selection.kept, options.decision)
    timings["decide"] = round(time.perf_counter() - start, 6)

    card = model.card
    return Analysis(
        series=series_summary(series),
        positions_mm=np.asarray(series.positions_mm, float),
        dark_pixel_counts=selection.dark_pixel_counts,
        selector_threshold=selection.threshold,
        kept=selection.kept,
        p_covid=p_covid,
        cams=cams,
        decision=decision,
        selector=options.selector,
        model={
            "name": card.name,
            "version": card.version,
            "sha256": card.sha256,
            "class_names": list(card.class_names),
            "covid_index": card.covid_index,
            "cam_size": list(card.cam_size),
            "provenance": card.provenance,
            "intended_use": card.intended_use,
        },
        provider={
            "requested": model.provider.requested,
            "used": model.provider.used,
            "label": model.provider.label,
            "reason": model.provider.reason,
        },
        versions=_versions(),
        timings_s=timings,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        all_slices=options.all_slices,
    )
