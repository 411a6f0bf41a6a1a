"""Synthetic chest CT: lung segmentation, COVID-19 lesion insertion, a procedural phantom and
its DICOM/TIFF writers (no Qt)."""

from lunglens.synthetic.lesions import PATTERNS, LesionParams, insert_lesions
from lunglens.synthetic.lung_mask import LungMaskParams, body_mask, lung_mask

__all__ = ["PATTERNS", "LesionParams", "LungMaskParams", "body_mask", "insert_lesions", "lung_mask"]
