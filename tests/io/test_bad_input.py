"""Folders that hold nothing usable get a clear message naming the folder and the reason."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from lunglens.io import FolderError, LoadError, discover, load
from tests.factory import write_series


def test_missing_folder(tmp_path):
    with pytest.raises(FolderError, match="no such folder"):
        discover(tmp_path / "absent")


def test_a_file_is_not_a_folder(tmp_path):
    (tmp_path / "f.dcm").write_bytes(b"x")
    with pytest.raises(FolderError, match="not a folder"):
        discover(tmp_path / "f.dcm")


def test_empty_folder(tmp_path):
    found = discover(tmp_path)
    assert found.series == () and "holds no files" in found.problem()


def test_folder_without_images(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "scan.csv").write_text("a,b\n1,2\n")
    found = discover(tmp_path)
    assert "no readable CT images among 2 entries" in found.problem()
    assert {s.reason for s in found.skipped} == {"not a DICOM or TIFF image"}


def test_folder_of_broken_files(tmp_path):
    (tmp_path / "a.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI")  # truncated meta
    (tmp_path / "b.tif").write_bytes(b"II*\0garbage")
    found = discover(tmp_path)
    assert found.series == ()
    reasons = {s.path.name: s.reason for s in found.skipped}
    assert set(reasons) == {"a.dcm", "b.tif"}
    assert "TIFF" in reasons["b.tif"]
    assert found.problem().startswith(str(tmp_path))


def test_eight_bit_tiff_is_refused_with_reason(tmp_path):
    tifffile.imwrite(tmp_path / "IM00001.tif", np.zeros((8, 8), np.uint8))
    (skipped,) = discover(tmp_path).skipped
    assert "uint8 TIFF, expected 16-bit" in skipped.reason


def test_loading_a_non_ct_series_is_refused(tmp_path):
    from tests.factory import write_series

    write_series(tmp_path, np.zeros((3, 8, 8), np.uint16), [0, 1, 2], modality="MR")
    with pytest.raises(LoadError, match="not CT"):
        load(discover(tmp_path).series[0])


def test_hidden_entries_and_linked_folders_are_skipped_and_named(tmp_path, capsys):
    import shutil

    from lunglens.cli import main as cli_main
    from tests.factory import write_series

    paths = write_series(tmp_path / "series", np.full((3, 8, 8), 1024, np.uint16), [0, 1, 2])
    (tmp_path / ".DS_Store").write_bytes(b"\0")
    (tmp_path / ".cache").mkdir()
    shutil.copy(paths[0], tmp_path / ".cache" / "copy.dcm")  # never read: not listed on its own
    (tmp_path / "linked").symlink_to(tmp_path / "series")
    (tmp_path / "series" / "loop").symlink_to(tmp_path)
    found = discover(tmp_path)
    assert len(found.series) == 1 and found.series[0].n_slices == 3
    assert {(s.path.relative_to(tmp_path).as_posix(), s.reason) for s in found.skipped} == {
        (".DS_Store", "hidden file (its name starts with a dot), not read"),
        (".cache", "hidden folder (its name starts with a dot), not entered"),
        ("linked", "symbolic link to a folder, not followed"),
        ("series/loop", "symbolic link to a folder, not followed"),
    }
    assert cli_main(["info", str(tmp_path), "--skipped"]) == 0
    assert f"{tmp_path / 'linked'}: symbolic link to a folder, not followed" in capsys.readouterr().out


def test_a_series_names_the_entries_skipped_beside_its_files(tmp_path):
    """A file cut short beside a series' slices may be one of them: the series says so, naming the
    files by kind, whatever reads it (viewer, CLI, batch, reports). Entries elsewhere in the
    folder, files that are no image (notes) and hidden files (never read, by design) are not its
    concern."""
    from tests.factory import write_series

    paths = write_series(tmp_path / "study" / "series", _chest_like(5), np.arange(5.0))
    for index in range(4):  # four more slices, cut short
        cut = paths[0].parent / f"cut{index}.dcm"
        cut.write_bytes(paths[0].read_bytes()[:200])
    (paths[0].parent / "notes.txt").write_text("hello")
    (paths[0].parent / "._IM0001.dcm").write_bytes(b"\0\5\26\7")
    (tmp_path / "elsewhere.txt").write_text("not beside the series")
    found = discover(tmp_path)
    (ref,) = found.series
    (warning,) = [w for w in ref.warnings if "skipped" in w]
    assert warning.startswith("4 entries in the series' folder skipped (file cut short: ")
    assert "cut0.dcm, cut1.dcm, cut2.dcm and 1 more" in warning
    assert "notes" not in warning and "elsewhere" not in warning and "._IM0001" not in warning
    assert sorted(p.name for p in ref.skipped_beside) == [
        "cut0.dcm",
        "cut1.dcm",
        "cut2.dcm",
        "cut3.dcm",
    ]
    assert warning in load(ref).warnings


def test_a_series_with_nothing_skipped_beside_it_has_no_such_warning(tmp_path):
    from tests.factory import write_series

    write_series(tmp_path / "series", np.full((3, 8, 8), 1024, np.uint16), [0, 1, 2])
    (tmp_path / "notes.txt").write_text("beside the folder, not the series")
    (ref,) = discover(tmp_path).series
    assert ref.skipped_beside == () and not any("skipped" in w for w in ref.warnings)


def _chest_like(n: int = 8) -> np.ndarray:
    """Stored values (HU + 1024) of a small chest: air around a body, two dark lungs."""
    volume = np.full((n, 64, 64), 24, np.uint16)  # air, -1000 HU
    volume[:, 8:56, 6:58] = 1064  # body, 40 HU
    volume[:, 16:48, 12:28] = 150  # lungs, -874 HU
    volume[:, 16:48, 36:52] = 150
    return volume


def _without_rescale(paths, which, intercept=None) -> None:
    import pydicom

    for path in (paths[i] for i in which):
        ds = pydicom.dcmread(path)
        if intercept is None:
            del ds.RescaleSlope, ds.RescaleIntercept
        else:
            ds.RescaleIntercept = intercept
        ds.save_as(path)


@pytest.mark.parametrize("padded", [False, True], ids=["no padding", "padding declared"])
@pytest.mark.parametrize("intercept", [None, 0], ids=["rescale missing", "intercept 0"])
def test_slices_off_the_series_hu_scale_are_skipped_naming_the_reason(tmp_path, intercept, padded):
    """Half the files without the rescale (or with intercept 0) read air at 0 HU: kept, they made a
    selection of alternate slices and a lung of a quarter of its volume, with no word said. Padding
    (air whatever the rescale) must not hide it."""
    volume = _chest_like()
    if padded:
        volume[:, :16, :16] = (
            0  # outside the field of view: 6 % of each slice, read as air whatever the rescale
        )
    paths = write_series(tmp_path / "s", volume, np.arange(8) * -2.0, **({"padding": 0} if padded else {}))
    _without_rescale(paths, range(1, 8, 2), intercept)
    series = load(discover(tmp_path).series[0])
    assert series.n_slices == 4 and np.all(series.hu[:, 20, 20] == -874)  # a lung pixel
    (skipped,) = [w for w in series.warnings if "not on the series' HU scale" in w]
    assert skipped.startswith(
        "skipped 4 slices (slice001.dcm, slice003.dcm, slice005.dcm and 1 more): they read air at about "
        "24 HU where the series' other slices read -1000 HU"
    )


def test_slices_whose_rescale_differs_but_whose_values_match_are_kept(tmp_path):
    """Values encoded for another intercept (stored + 1024, intercept -2048) are on the same scale."""
    volume = _chest_like()
    paths = write_series(tmp_path / "s", volume, np.arange(8) * -2.0)
    import pydicom

    for path in paths[:3]:
        ds = pydicom.dcmread(path)
        ds.PixelData = (ds.pixel_array + 1024).astype(np.uint16).tobytes()
        ds.RescaleIntercept = -2048
        ds.save_as(path)
    series = load(discover(tmp_path).series[0])
    assert series.n_slices == 8 and not any("HU scale" in w for w in series.warnings)
    assert np.all(series.hu.min(axis=(1, 2)) == -1000)


@pytest.mark.parametrize("padded", [False, True], ids=["no padding", "padding declared"])
def test_a_series_that_shows_no_air_is_refused_naming_the_rescale(tmp_path, padded):
    volume = _chest_like()
    if padded:
        volume[:, :4, :4] = 0  # outside the field of view: air whatever the rescale
    paths = write_series(tmp_path / "s", volume, np.arange(8) * -2.0, **({"padding": 0} if padded else {}))
    _without_rescale(paths, range(8))
    with pytest.raises(
        LoadError,
        match=r"no slice shows air .*not Hounsfield units, or its images hold no chest \(no rescale stated",
    ):
        load(discover(tmp_path).series[0])


def test_a_skipped_file_of_another_series_is_not_named_by_this_one(tmp_path):
    """Two series in one folder (a flat export): a duplicate of a slice of A may be A's, never B's."""
    import shutil

    a = write_series(tmp_path / "flat", _chest_like(4), np.arange(4.0), names=[f"a{i}.dcm" for i in range(4)])
    write_series(tmp_path / "flat", _chest_like(4), np.arange(4.0), names=[f"b{i}.dcm" for i in range(4)])
    shutil.copy(a[0], tmp_path / "flat" / "copy_of_a0.dcm")
    found = discover(tmp_path)
    warnings = {ref.frames[0][0].name[0]: [w for w in ref.warnings if "skipped" in w] for ref in found.series}
    assert warnings["b"] == [] and "duplicate: copy_of_a0.dcm" in warnings["a"][0]


def test_a_series_of_nothing_but_air_clipped_at_minus_1024_shows_air(tmp_path):
    """Every pixel at -1024 (the padding HU, and where scanners clip air) is air, not 'no air'."""
    write_series(tmp_path / "s", np.zeros((3, 16, 16), np.uint16), [0.0, -2.0, -4.0])
    assert (load(discover(tmp_path).series[0]).hu == -1024).all()


@pytest.mark.parametrize("cut_at", [400, 600], ids=["in the file meta", "after the SOP class"])
def test_a_ct_file_cut_before_its_pixel_data_is_cut_short(tmp_path, cut_at):
    """A CT image always holds pixels: one that ends before them was cut (a copy still arriving),
    whether its data set still says CT Image Storage or only its file meta does."""
    paths = write_series(tmp_path / "s", _chest_like(4), np.arange(4.0))
    paths[1].write_bytes(paths[1].read_bytes()[:cut_at])
    (skipped,) = discover(tmp_path).skipped
    assert skipped.reason == "file cut short: it ends before its pixel data (CT Image Storage)"
