"""The demo patient: a synthetic chest CT written as DICOM or COVID-CTset TIFF (the command
line's `lunglens demo-data` and `--demo`, the viewer's `--demo` and the tests make one)."""

from __future__ import annotations

from pathlib import Path

from lunglens.synthetic.phantom import make_phantom
from lunglens.synthetic.writers import write_dicom_series, write_tiff_series

DEMO_COVID_SEVERITY = 0.6
"""Lesion severity of the COVID demo patient (0 none .. 1 extensive)."""
DEMO_SLICES = 150
FORMATS = ("dicom", "tiff")


def make_demo_patient(
    out_folder: Path,
    covid: bool = True,
    n_slices: int = DEMO_SLICES,
    seed: int = 0,
    fmt: str = "dicom",
) -> Path:
    """Write a synthetic patient into `out_folder` (created; must be new or empty) and return
    the folder holding the series: `out_folder` itself for DICOM, `out_folder/SR_2` for TIFF.
    Deterministic: the same arguments give the same files."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    if not 35 <= n_slices <= 600:
        raise ValueError(f"slices must be between 35 and 600, got {n_slices}")
    out_folder = Path(out_folder)
    phantom = make_phantom(n_slices=n_slices, seed=seed, covid_severity=DEMO_COVID_SEVERITY if covid else 0.0)
    if fmt == "tiff":
        return write_tiff_series(phantom.hu, out_folder)[0].parent
    kind = "COVID-19 pattern" if covid else "normal"
    write_dicom_series(
        phantom.hu,
        phantom.positions_mm,
        phantom.pixel_spacing_mm,
        phantom.slice_thickness_mm,
        out_folder,
        patient_id=f"SYNTH-{'COVID' if covid else 'NORMAL'}-{seed}",
        series_description=f"Synthetic chest CT ({kind}, seed {seed})",
        seed=seed * 2 + int(covid),
    )
    return out_folder
