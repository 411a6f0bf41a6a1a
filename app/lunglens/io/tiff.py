"""Folders of 2-D 16-bit TIFF slices, as in COVID-CTset (`<patient>/SR_2/IM00001.tif`, value =
HU + 1024). One folder is one series, its slices in natural name order, the first file the most
superior slice."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import tifffile

from lunglens.io.files import NotRegularFileError, open_regular
from lunglens.io.plausible import PHYSICAL_HU
from lunglens.io.raw_scale import RAW_OFFSET_HU

TIFF_SUFFIXES = {".tif", ".tiff"}


class TiffFileError(Exception):
    """A TIFF file that cannot be a CT slice; the message is the reason shown to the user."""


def natural_key(path: Path) -> list:
    """Sort key that orders IM2 before IM10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def tiff_shape(path: Path) -> tuple[int, int]:
    """(rows, columns) of a single-page grey-scale 16-bit TIFF, read from its header only.
    Raises TiffFileError with the reason otherwise."""
    try:
        with open_regular(path) as fh, tifffile.TiffFile(fh, name=Path(path).name) as tif:
            if len(tif.series) != 1:
                raise TiffFileError(f"{len(tif.series)} images in one TIFF, expected one slice")
            series = tif.series[0]
            shape, dtype = series.shape, np.dtype(series.dtype)
    except TiffFileError:
        raise
    except NotRegularFileError as exc:
        raise TiffFileError(str(exc)) from exc
    except Exception as exc:  # tifffile raises assorted errors on broken files
        raise TiffFileError(f"unreadable TIFF ({type(exc).__name__}: {exc})") from exc
    if len(shape) != 2:
        raise TiffFileError(f"TIFF of shape {tuple(shape)}, expected one 2-D grey-scale slice")
    if dtype not in (np.dtype(np.uint16), np.dtype(np.int16)):
        raise TiffFileError(f"{dtype} TIFF, expected 16-bit CT values")
    return int(shape[0]), int(shape[1])


def tiff_hu(path: Path, offset_hu: int = RAW_OFFSET_HU) -> np.ndarray:
    """One TIFF slice in HU (int16): HU = value - `offset_hu` (COVID-CTset: 1024). Raises
    TiffFileError when it cannot be read or its values are not HU (`lunglens.io.plausible`)."""
    try:
        with open_regular(path) as fh, tifffile.TiffFile(fh, name=Path(path).name) as tif:
            values = tif.asarray()
    except NotRegularFileError as exc:
        raise TiffFileError(str(exc)) from exc
    except Exception as exc:
        raise TiffFileError(f"unreadable TIFF ({type(exc).__name__}: {exc})") from exc
    hu = np.clip(values.astype(np.int32) - offset_hu, -32768, 32767).astype(np.int16)
    problem = PHYSICAL_HU.problem(hu)
    if problem:
        raise TiffFileError(f"{problem} (value = HU + {offset_hu})")
    return hu
