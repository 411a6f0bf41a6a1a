"""Quantification (no Qt): lungs, zones, lesion burden and the six-zone severity score."""

from lunglens.quant.bands import HUBandMethod, HUBands, LesionMethod, ProbabilityMapMethod
from lunglens.quant.burden import QuantParams, SeverityScale, quantify
from lunglens.quant.lungs import LungParams, LungSegmentation, NoLungFound, segment_lungs
from lunglens.quant.result import Quantification, RegionBurden
from lunglens.quant.zones import ZONE_NAMES

__all__ = [
    "ZONE_NAMES",
    "HUBandMethod",
    "HUBands",
    "LesionMethod",
    "LungParams",
    "LungSegmentation",
    "NoLungFound",
    "ProbabilityMapMethod",
    "QuantParams",
    "Quantification",
    "RegionBurden",
    "SeverityScale",
    "quantify",
    "segment_lungs",
]
