"""Synthetic chest CT: lung segmentation, COVID-19 lesion insertion, a procedural phantom and
its DICOM/TIFF writers, and the demo patient (no Qt)."""

from lunglens.synthetic.demo import make_demo_patient
from lunglens.synthetic.lesions import PATTERNS, LesionParams, insert_lesions
from lunglens.synthetic.lung_mask import LungMaskParams, body_mask, lung_mask
from lunglens.synthetic.phantom import Phantom, make_phantom
from lunglens.synthetic.writers import write_dicom_series, write_tiff_series

__all__ = [
    "PATTERNS",
    "LesionParams",
    "LungMaskParams",
    "Phantom",
    "body_mask",
    "insert_lesions",
    "lung_mask",
    "make_demo_patient",
    "make_phantom",
    "write_dicom_series",
    "write_tiff_series",
]
