"""Folder → series: DICOM and TIFF discovery, sorting by geometry, decoding to HU (no Qt)."""

from lunglens.io.discover import Discovery, FolderError, SkippedFile, discover
from lunglens.io.load import LoadError, load, load_slice
from lunglens.io.raw_scale import RAW_OFFSET_HU, hu_to_raw
from lunglens.io.series import Series, SeriesMetadata, SeriesRef

__all__ = [
    "RAW_OFFSET_HU",
    "Discovery",
    "FolderError",
    "LoadError",
    "Series",
    "SeriesMetadata",
    "SeriesRef",
    "SkippedFile",
    "discover",
    "hu_to_raw",
    "load",
    "load_slice",
]
