"""DICOM results (no Qt), written with highdicom as new series of the source study: a
Comprehensive 3D SR (TID 1500) with the decision, the per-slice P(COVID) and the
quantification; a SEG of lungs and lesions; secondary captures of the key images with the
overlays burnt in; the PDF report encapsulated. `write_dicom_results` is the entry point of
`lunglens analyze --dicom-out`; `build_dicom_results` gives the objects for STOW-RS."""

from lunglens.dicomout.source import DicomOutError, dicom_results_problem
from lunglens.dicomout.write import (
    DicomResult,
    build_dicom_results,
    encode,
    save_results,
    write_dicom_results,
)

__all__ = [
    "DicomOutError",
    "DicomResult",
    "build_dicom_results",
    "dicom_results_problem",
    "encode",
    "save_results",
    "write_dicom_results",
]
