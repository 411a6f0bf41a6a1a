"""Decode a discovered series into a `Series`: an int16 HU volume, index 0 the most superior
slice, with positions (mm), spacing, metadata and warnings. Files are decoded in parallel
threads (the JPEG decoders release the GIL); a slice that fails is skipped with its reason."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from lunglens.io.dicom import (
    DicomFileError,
    frame_hu,
    frame_position,
    frame_rescale,
    image_orientation,
    read_dataset,
    series_metadata,
)
from lunglens.io.files import names_listed
from lunglens.io.geometry import orientation_problem, spacing_report, superior_positions_mm
from lunglens.io.plausible import no_air_problem, off_scale_slices
from lunglens.io.raw_scale import RAW_OFFSET_HU
from lunglens.io.series import Series, SeriesMetadata, SeriesRef
from lunglens.io.tiff import TiffFileError, tiff_hu
from lunglens.threads import thread_count

#: Spacing assumed where the files state none (TIFF, incomplete DICOM), in mm.
NOMINAL_SPACING_MM = 1.0

ProgressCallback = Callable[[int, int], None]
"""Called with (slices done, slices total)."""
SliceCallback = Callable[[Path, "int | None", np.ndarray], None]
"""Called with (file, frame, HU slice) for each slice as it is decoded, in file order, before the
volume is assembled (lets a caller start work on a slice while the others decode)."""


class LoadError(Exception):
    """A series that cannot be loaded; the message names the series and the reason."""


def _workers() -> int:
    """Decoding threads: the process's thread budget (a batch worker's share of the cores), else
    the CPU count; at most 8."""
    return min(8, thread_count())


def load(
    ref: SeriesRef,
    *,
    tiff_offset_hu: int = RAW_OFFSET_HU,
    progress: ProgressCallback | None = None,
    on_slice: SliceCallback | None = None,
) -> Series:
    """Decode every slice of `ref`. TIFF values become HU = value - `tiff_offset_hu`.
    Raises LoadError when the series is not CT or no slice can be decoded."""
    if ref.modality != "CT":
        raise LoadError(f"{ref.name}: not CT (modality {ref.modality or 'missing'})")
    if ref.source_format == "tiff":
        return _load_tiff(ref, tiff_offset_hu, progress, on_slice)
    return _load_dicom(ref, progress, on_slice)


def load_slice(ref: SeriesRef, index: int, *, tiff_offset_hu: int = RAW_OFFSET_HU) -> np.ndarray:
    """One slice of `ref` in HU (int16), e.g. to show the middle slice before the rest loads."""
    path, frame = ref.frames[index]
    try:
        if ref.source_format == "tiff":
            return tiff_hu(path, tiff_offset_hu)
        return frame_hu(read_dataset(path, pixels=True), frame)
    except (DicomFileError, TiffFileError) as exc:
        raise LoadError(f"{path}: {exc}") from exc


def _decode_parallel(
    ref: SeriesRef,
    task: Callable[[Path, list[int | None]], list],
    progress: ProgressCallback | None,
    on_result: Callable[[Path, int | None, object], None] | None = None,
) -> tuple[dict[tuple[Path, int | None], object], list[str]]:
    """Run `task(path, frames)` for every file of `ref` on a thread pool; returns the results by
    (path, frame) and a warning for every file that failed. `on_result(path, frame, result)` sees
    each result as it arrives."""
    frames_by_file: dict[Path, list[int | None]] = defaultdict(list)
    for path, frame in ref.frames:
        frames_by_file[path].append(frame)
    results: dict[tuple[Path, int | None], object] = {}
    warnings: list[str] = []
    done = 0
    with ThreadPoolExecutor(_workers()) as pool:
        futures = {path: pool.submit(task, path, frames) for path, frames in frames_by_file.items()}
        for path, future in futures.items():
            frames = frames_by_file[path]
            try:
                for frame, value in zip(frames, future.result(), strict=True):
                    results[(path, frame)] = value
                    if on_result is not None:
                        on_result(path, frame, value)
            except (DicomFileError, TiffFileError) as exc:
                warnings.append(f"skipped {path.name}: {exc}")
            done += len(frames)
            if progress is not None:
                progress(done, ref.n_slices)
    return results, warnings


def _dicom_file(path: Path, frames: list[int | None]) -> list[tuple[np.ndarray, tuple | None, tuple | None]]:
    """(HU, position, rescale as stated: `frame_rescale`) of each frame of the file at `path`."""
    ds = read_dataset(path, pixels=True)
    return [(frame_hu(ds, frame), frame_position(ds, frame), frame_rescale(ds, frame)) for frame in frames]


def _check_sizes(ref: SeriesRef, slices: list[np.ndarray]) -> None:
    shapes = {s.shape for s in slices}
    if len(shapes) > 1:
        raise LoadError(f"{ref.name}: slices of different sizes {sorted(shapes)}")


def _on_one_scale(ref: SeriesRef, kept: list, results: dict, warnings: list[str]) -> list:
    """`kept` (path, frame) keys without the slices off the series' HU scale (`off_scale_slices`),
    each added to `warnings` with its reason. Raises LoadError when the series shows no air
    (`no_air_problem`)."""
    hu = [results[k][0] for k in kept]
    rescales = [results[k][2] for k in kept]
    off_scale = off_scale_slices(hu, rescales)
    slices_by_reason: dict[str, list[str]] = defaultdict(list)
    for index, reason in off_scale.items():
        path, frame = kept[index]
        slices_by_reason[reason].append(path.name + ("" if frame is None else f" frame {frame + 1}"))
    for reason, names in slices_by_reason.items():
        count = f"{len(names)} slice{'s' * (len(names) > 1)}"
        warnings.append(f"skipped {count} ({names_listed(names)}): they {reason}")
    kept = [k for index, k in enumerate(kept) if index not in off_scale]
    problem = no_air_problem([results[k][0] for k in kept], [results[k][2] for k in kept])
    if problem:
        raise LoadError(f"{ref.name}: {problem}")
    return kept


def _load_dicom(ref: SeriesRef, progress: ProgressCallback | None, on_slice: SliceCallback | None) -> Series:
    forward = None if on_slice is None else lambda path, frame, value: on_slice(path, frame, value[0])
    results, warnings = _decode_parallel(ref, _dicom_file, progress, forward)
    kept = [(path, frame) for path, frame in ref.frames if (path, frame) in results]
    if not kept:
        raise LoadError(f"{ref.name}: no slice could be decoded ({'; '.join(warnings[:3])})")
    kept = _on_one_scale(ref, kept, results, warnings)
    slices = [results[k][0] for k in kept]
    _check_sizes(ref, slices)
    positions = [results[k][1] for k in kept]

    middle = read_dataset(kept[len(kept) // 2][0], pixels=False)
    orientation = image_orientation(middle)
    positions_stated = (
        orientation_problem(orientation) is None
        and orientation is not None
        and all(p is not None for p in positions)
    )
    if positions_stated:
        along = superior_positions_mm(np.array(positions), orientation)
        order = np.argsort(-along, kind="stable")
    else:
        thickness = ref.slice_thickness_mm or NOMINAL_SPACING_MM
        along = -np.arange(len(kept)) * thickness
        order = np.arange(len(kept))
        warnings.append(f"no slice positions: positions assumed {thickness:g} mm apart in file order")
    positions_mm = along[order]
    slice_spacing, spacing_warnings = spacing_report(positions_mm)
    pixel_spacing = ref.pixel_spacing_mm
    if pixel_spacing is None:
        pixel_spacing = (NOMINAL_SPACING_MM, NOMINAL_SPACING_MM)
        warnings.append(
            f"no usable PixelSpacing (absent, or not two positive numbers): {NOMINAL_SPACING_MM:g} mm assumed"
        )
    return Series(
        ref=ref,
        hu=np.stack([slices[i] for i in order]),
        positions_mm=positions_mm,
        pixel_spacing_mm=tuple(pixel_spacing),
        slice_spacing_mm=slice_spacing or (ref.slice_thickness_mm or NOMINAL_SPACING_MM),
        metadata=series_metadata(middle),
        source_paths=tuple(kept[i][0] for i in order),
        # when every slice decoded, their positions are those discovery reported on (ref.warnings)
        warnings=[*ref.warnings, *warnings, *(spacing_warnings if len(kept) < ref.n_slices else [])],
        orientation_cosines=orientation,
        pixel_spacing_stated=ref.pixel_spacing_mm is not None,
        positions_stated=positions_stated,
    )


def _load_tiff(
    ref: SeriesRef, offset_hu: int, progress: ProgressCallback | None, on_slice: SliceCallback | None
) -> Series:
    def task(path: Path, frames: list[int | None]) -> list[np.ndarray]:
        return [tiff_hu(path, offset_hu)]

    results, warnings = _decode_parallel(ref, task, progress, on_slice)
    kept = [path for path, _ in ref.frames if (path, None) in results]
    if not kept:
        raise LoadError(f"{ref.name}: no slice could be decoded ({'; '.join(warnings[:3])})")
    slices = [results[(p, None)] for p in kept]
    _check_sizes(ref, slices)
    return Series(
        ref=ref,
        hu=np.stack(slices),
        positions_mm=-np.arange(len(kept)) * NOMINAL_SPACING_MM,
        pixel_spacing_mm=(NOMINAL_SPACING_MM, NOMINAL_SPACING_MM),
        slice_spacing_mm=NOMINAL_SPACING_MM,
        metadata=SeriesMetadata(series_description=ref.description),
        source_paths=tuple(kept),
        warnings=[*ref.warnings, *warnings, "positions are slice numbers (1 mm nominal spacing)"],
        pixel_spacing_stated=False,
        positions_stated=False,
    )
