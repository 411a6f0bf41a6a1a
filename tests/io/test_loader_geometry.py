"""Loader behaviour on hand-made series whose geometry and values are known."""

from __future__ import annotations

import os

import numpy as np
import pytest

from lunglens.io import discover, load
from tests.factory import write_ct_slice, write_series


def _volume(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 3000, (n, size, size)).astype(np.uint16)


def test_slices_sorted_by_position_not_by_file_name_or_instance_number(tmp_path):
    volume = _volume(5)
    z = [10.0, -2.0, 6.0, 2.0, -6.0]  # shuffled; names and instance numbers follow this order
    write_series(tmp_path, volume, z, names=["b", "IM 1.IMA", "x.dcm", "0001", "zz"])
    (ref,) = discover(tmp_path).series
    series = load(ref)
    order = np.argsort(z)[::-1]
    assert np.allclose(series.positions_mm, np.sort(z)[::-1])
    assert np.array_equal(series.hu, volume[order].astype(np.int16) - 1024)
    assert series.slice_spacing_mm == pytest.approx(4.0)


def test_feet_first_normal_still_puts_the_most_superior_slice_first(tmp_path):
    volume = _volume(4)
    # row direction flipped: the slice normal points to the feet
    write_series(tmp_path, volume, [0, 5, 10, 15], orientation=(-1, 0, 0, 0, 1, 0))
    series = load(discover(tmp_path).series[0])
    assert np.allclose(series.positions_mm, [15, 10, 5, 0])
    assert np.array_equal(series.hu[0], volume[3].astype(np.int16) - 1024)


def test_missing_positions_fall_back_to_instance_number_with_a_warning(tmp_path):
    volume = _volume(3)
    for i in (2, 0, 1):
        write_ct_slice(
            tmp_path / f"s{i}", volume[i], series_uid="1.2.3.4", position=None, instance_number=i + 1
        )
    (ref,) = discover(tmp_path).series
    assert any("InstanceNumber" in w for w in ref.warnings)
    series = load(ref)
    assert np.array_equal(series.hu, volume.astype(np.int16) - 1024)
    assert any("no slice positions" in w for w in series.warnings)


def test_gap_is_reported_once(tmp_path):
    """Discovery and the loader both reported it, and the status bar said it twice."""
    write_series(tmp_path, _volume(5), [0, -2, -4, -10, -12])
    series = load(discover(tmp_path).series[0])
    assert [w for w in series.warnings if "gap" in w] == ["1 gap(s) in the series: after slice 3 (6.0 mm)"]


def test_signed_pixels_with_zero_intercept_and_padding(tmp_path):
    stored = np.full((3, 16, 16), -1000, dtype=np.int16)
    stored[:, 4:8, 4:8] = 40
    stored[:, 0, :] = -2000
    write_series(tmp_path, stored, [0, -1, -2], intercept=0.0, padding=-2000)
    series = load(discover(tmp_path).series[0])
    assert series.hu[0, 5, 5] == 40 and series.hu[0, 10, 10] == -1000
    assert (series.hu[:, 0, :] == -1024).all()  # padding shown as air


def test_rescale_slope_is_applied(tmp_path):
    stored = np.full((3, 8, 8), 1000, dtype=np.uint16)
    stored[:, 0] = 200  # air
    write_series(tmp_path, stored, [0, -1, -2], slope=0.5, intercept=-1100.0)
    hu = load(discover(tmp_path).series[0]).hu
    assert (hu[:, 1:] == -600).all() and (hu[:, 0] == -1000).all()


def test_two_passes_in_one_uid_and_mixed_sizes_are_split(tmp_path):
    write_series(tmp_path / "a", _volume(3), [0, -1, -2], series_uid="1.2.3.9", acquisition=1)
    write_series(tmp_path / "b", _volume(3, seed=1), [0, -1, -2], series_uid="1.2.3.9", acquisition=2)
    write_series(tmp_path / "c", _volume(3, size=16), [0, -1, -2], series_uid="1.2.3.9")
    found = discover(tmp_path)
    assert len(found.series) == 3
    assert all(r.n_slices == 3 and r.analysable for r in found.series)
    assert all(any("split" in w for w in r.warnings) for r in found.series)


def test_non_axial_and_short_series_are_listed_but_not_analysable(tmp_path):
    write_series(tmp_path / "cor", _volume(4), [0, 1, 2, 3], orientation=(1, 0, 0, 0, 0, -1))
    write_series(tmp_path / "two", _volume(2), [0, 1])
    write_series(tmp_path / "mr", _volume(4), [0, 1, 2, 3], modality="MR")
    problems = {r.folder.name: r.problems for r in discover(tmp_path).series}
    assert any("not axial (coronal)" in p for p in problems["cor"])
    assert any("only 2 slice(s)" in p for p in problems["two"])
    assert any("not CT (modality MR)" in p for p in problems["mr"])


def test_loading_never_writes_into_the_folder(tmp_path):
    write_series(tmp_path, _volume(4), [0, -1, -2, -3])
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in tmp_path.rglob("*")}
    os.chmod(tmp_path, 0o555)
    try:
        load(discover(tmp_path).series[0])
    finally:
        os.chmod(tmp_path, 0o755)
    assert before == {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in tmp_path.rglob("*")}


@pytest.mark.parametrize(
    "orientation",
    [
        (1, 0, 0, 0, 1, 0),
        (1, 0, 0, 0, -1, 0),
        (-1, 0, 0, 0, 1, 0),
        (-1, 0, 0, 0, -1, 0),
        (0, 1, 0, 1, 0, 0),
        (0, -1, 0, 1, 0, 0),
        (0, 1, 0, -1, 0, 0),
        (0, -1, 0, -1, 0, 0),
        (0.98, 0.17, 0, -0.17, 0.98, 0),
    ],  # fmt: skip
)
def test_the_standard_layout_runs_patient_x_along_columns_and_y_down_rows(orientation):
    """Each stored pixel (r, c) lies at c x row cosines + r x column cosines (LPS); turned to the
    standard layout, patient x (towards the left) grows along the columns, y (towards the back)
    down the rows."""
    from lunglens.io.geometry import StandardLayout

    rows, columns = 5, 7
    r, c = np.mgrid[0:rows, 0:columns]
    where = c[..., None] * np.array(orientation[:3]) + r[..., None] * np.array(orientation[3:])
    layout = StandardLayout.of(orientation)
    x, y = layout.to_standard(where[..., 0]), layout.to_standard(where[..., 1])
    assert (np.diff(x, axis=1) > 0).all() and (np.diff(y, axis=0) > 0).all()
    assert np.array_equal(layout.to_stored(layout.to_standard(where[..., 0])), where[..., 0])


def test_messages_name_a_series_without_description_by_its_folder_and_number_not_its_uid(tmp_path):
    import dataclasses

    write_series(tmp_path / "p", np.full((3, 16, 16), 1024, np.uint16), [0.0, -2.0, -4.0])
    ref = discover(tmp_path / "p").series[0]
    assert ref.name == "loader test"
    unnamed = dataclasses.replace(ref, description="", series_number=2)
    assert unnamed.name == f"{tmp_path / 'p'}, series 2"
    assert dataclasses.replace(unnamed, series_number=None).name == str(tmp_path / "p")
    assert ref.key not in unnamed.name
