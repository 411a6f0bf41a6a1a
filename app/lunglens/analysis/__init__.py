"""The analysis layer: the one pipeline and the one result.

    folder or PACS → discover → SeriesRef → load → Series → select → Selection → classify
    → (quantify) → decide → Analysis

`pipeline.analyse` runs the steps after loading for a `Series` (taking the viewer's `Selection`
when it has one); `pipeline.load_and_analyse` also loads, for the command line and batch runs, on a
GPU classifying while the series decodes (`speculation`).
`lesion_methods` names the quantification's lesion methods and the default, and resolves a name
to a method (the lesion model loaded once per process). `result.Analysis` is the serialisable
result the viewer, the CLI's JSON, the PDF report and the DICOM writers read; `records` holds its
typed parts (series, model, provider); `readout` writes what is shown of them as plain text (the
viewer, the report and the command line import it; this package does not).

This package sits above `io`, `core` (pure rules: selector, decision, windowing), `inference`
(ONNX sessions) and `quant`, and below `report`, `cli` and `ui`. It imports no Qt."""

from lunglens.analysis.lesion_methods import (
    DEFAULT_LESION_METHOD,
    LESION_METHODS,
    LesionMethods,
    shared_lesion_methods,
)
from lunglens.analysis.pipeline import AnalysisOptions, NoVerdict, analyse, load_and_analyse, requantify
from lunglens.analysis.records import ModelRecord, ProviderRecord, SeriesRecord
from lunglens.analysis.result import ANALYSIS_FORMAT, Analysis, SliceRecord

__all__ = [
    "ANALYSIS_FORMAT",
    "DEFAULT_LESION_METHOD",
    "LESION_METHODS",
    "LesionMethods",
    "Analysis",
    "AnalysisOptions",
    "ModelRecord",
    "NoVerdict",
    "ProviderRecord",
    "SeriesRecord",
    "SliceRecord",
    "analyse",
    "load_and_analyse",
    "requantify",
    "shared_lesion_methods",
]
