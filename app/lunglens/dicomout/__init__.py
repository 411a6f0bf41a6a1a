"""DICOM results (no Qt), written with highdicom as new series of the source study: a
Comprehensive 3D SR (TID 1500) with the decision, the per-slice P(COVID) and the
quantification; a SEG of lungs and lesions; secondary captures of the key images with the
overlays burnt in; the PDF report encapsulated. `build_dicom_results` builds them (for
`lunglens analyze --dicom-out` and STOW-RS), `save_results` writes them to a folder."""

from lunglens.dicomout.source import DicomOutError, dicom_results_problem
from lunglens.dicomout.write import (
    DicomResult,
    build_dicom_results,
    encode,
    save_results,
)

__all__ = [
    "DicomOutError",
    "DicomResult",
    "build_dicom_results",
    "dicom_results_problem",
    "encode",
    "save_results",
]
