"""`Analysis`: everything one analysis of one series found, with what is needed to reproduce
and report it, as one serialisable value. Changing the operating point re-runs only `decide`
(`Analysis.redecide`), never the model."""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, replace

import numpy as np

from lunglens.analysis.records import ModelRecord, ProviderRecord, SeriesRecord
from lunglens.core.decision import Decision, DecisionParams, decide
from lunglens.core.selector import Selection, SelectorParams, run_off_ends
from lunglens.quant import Quantification

#: Version of the JSON layout written by `Analysis.to_dict` (2: typed records, the selection
#: under "selection"; 3: "quantification", null when not run; its "lesion_model", added later,
#: is absent from older results and read as none).
ANALYSIS_FORMAT = 3


@dataclass(frozen=True)
class SliceRecord:
    """One slice of the analysis (a row of the JSON "slices" and of the report's table).
    `p_covid` is None for slices not classified."""

    index: int
    position_mm: float
    dark_pixel_count: int
    kept: bool
    p_covid: float | None
    positive: bool


@dataclass(frozen=True)
class Analysis:
    """The result of the pipeline for one series.

    `selection` is the selector's result (dark-pixel counts, threshold, kept slices) and
    `decision` the verdict at the current operating point. Arrays run over all slices of the
    series (index 0 most superior): `positions_mm` (mm along the head-foot axis), `p_covid`
    (NaN where a slice was not classified) and `cams` (float16 [n_slices, h, w] at the model's
    CAM size, zero where not classified). `timings_s` gives seconds per pipeline step in the
    order they ran; `versions` the software that ran; `created` an ISO 8601 UTC time."""

    series: SeriesRecord
    selection: Selection
    decision: Decision
    model: ModelRecord
    provider: ProviderRecord
    positions_mm: np.ndarray
    p_covid: np.ndarray
    cams: np.ndarray
    timings_s: dict[str, float]
    versions: dict[str, str]
    created: str
    all_slices: bool = False
    """Whether slices the selector discarded were classified too (to show what it saved)."""
    quantification: Quantification | None = None
    """Lungs, zones, lesion burden and severity score (`lunglens.quant`); None when it was not
    run (`AnalysisOptions.quantify` off). A series where it finds no lung has no analysis: `analyse`
    raises `NoVerdict` (results of earlier versions hold None and a series warning starting "no
    quantification" then)."""

    @property
    def n_slices(self) -> int:
        return int(len(self.p_covid))

    @property
    def classified(self) -> np.ndarray:
        """Per slice: whether the model ran on it."""
        return ~np.isnan(self.p_covid)

    def verdict_caveat(self) -> str:
        """What the verdict cannot tell, under it (viewer and PDF): the model's caveat
        (`ModelRecord.verdict_caveat`); when the selector kept the series' first or last slice,
        that the lungs run off the series there, so the verdict reads only the part scanned; and
        at an operating point where the verdict no longer depends on the images, that it does not
        (`DecisionParams.images_ignored`)."""
        parts = [self.model.verdict_caveat()]
        ends = run_off_ends(self.selection.kept)
        if ends:
            parts.append(
                f"The lungs run off the series at its {' and '.join(ends)} slice (kept as lung open): "
                "the verdict reads only the part of them scanned."
            )
        ignored = self.decision.params.images_ignored()
        if ignored:
            parts.append(ignored)
        return " ".join(parts)

    def redecide(self, params: DecisionParams) -> Analysis:
        """The same analysis at another operating point (no model call; instant)."""
        return replace(self, decision=decide(self.p_covid, self.selection.kept, params))

    def records(self) -> list[SliceRecord]:
        kept, counts, positive = self.selection.kept, self.selection.dark_pixel_counts, self.decision.positive
        return [
            SliceRecord(
                index=i,
                position_mm=float(self.positions_mm[i]),
                dark_pixel_count=int(counts[i]),
                kept=bool(kept[i]),
                p_covid=None if np.isnan(self.p_covid[i]) else float(self.p_covid[i]),
                positive=bool(positive[i]),
            )
            for i in range(self.n_slices)
        ]

    # --- JSON -----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A JSON-able dict (layout ANALYSIS_FORMAT); the CAMs as base64 float16."""
        return {
            "format": ANALYSIS_FORMAT,
            "created": self.created,
            "series": self.series.to_dict(),
            "model": self.model.to_dict(),
            "provider": self.provider.to_dict(),
            "versions": self.versions,
            "timings_s": self.timings_s,
            "all_slices": self.all_slices,
            "selection": {"params": asdict(self.selection.params), "threshold": self.selection.threshold},
            "decision": {
                "params": asdict(self.decision.params),
                "k_positive": self.decision.k_positive,
                "n_kept": self.decision.n_kept,
                "verdict": self.decision.verdict,
                "covid": self.decision.covid,
            },
            "slices": [asdict(r) for r in self.records()],
            "quantification": None if self.quantification is None else self.quantification.to_dict(),
            "cams": {
                "dtype": "float16",
                "shape": list(self.cams.shape),
                "base64": base64.b64encode(np.ascontiguousarray(self.cams, "<f2").tobytes()).decode("ascii"),
            },
        }

    def to_json(self) -> str:
        return analysis_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict) -> Analysis:
        """The analysis `to_dict` wrote (format ANALYSIS_FORMAT only; raises ValueError for
        another). Without CAMs in `data` the CAMs are zero."""
        if data.get("format") != ANALYSIS_FORMAT:
            raise ValueError(
                f"analysis JSON format {data.get('format')!r}; this LungLens reads {ANALYSIS_FORMAT}"
            )
        slices = data["slices"]
        model = ModelRecord.from_dict(data["model"])
        if "cams" in data:
            cams = np.frombuffer(base64.b64decode(data["cams"]["base64"]), "<f2")
            cams = cams.reshape(data["cams"]["shape"]).astype(np.float16)
        else:
            cams = np.zeros((len(slices), *model.cam_size), np.float16)
        p_covid = np.array([np.nan if s["p_covid"] is None else s["p_covid"] for s in slices], float)
        selection = Selection(
            dark_pixel_counts=np.array([s["dark_pixel_count"] for s in slices], np.int64),
            threshold=float(data["selection"]["threshold"]),
            kept=np.array([s["kept"] for s in slices], bool),
            params=SelectorParams(**data["selection"]["params"]),
        )
        return cls(
            series=SeriesRecord.from_dict(data["series"]),
            selection=selection,
            decision=decide(p_covid, selection.kept, DecisionParams(**data["decision"]["params"])),
            model=model,
            provider=ProviderRecord.from_dict(data["provider"]),
            positions_mm=np.array([s["position_mm"] for s in slices], float),
            p_covid=p_covid,
            cams=cams,
            timings_s=data["timings_s"],
            versions=data["versions"],
            created=data["created"],
            all_slices=data["all_slices"],
            quantification=(
                Quantification.from_dict(data["quantification"]) if data.get("quantification") else None
            ),
        )

    @classmethod
    def from_json(cls, text: str) -> Analysis:
        return cls.from_dict(json.loads(text))


def analysis_json(data: dict) -> str:
    """The JSON text of an analysis' dict (`Analysis.to_dict`), as result files hold it."""
    return json.dumps(data, indent=1)
