"""Hostile input, made in each test: what discovery and loading refuse, and the reason they give.

Classes (issue 12): hangs (pipes, devices, sockets, huge files, headers that claim more than the
file holds), tracebacks (degenerate orientation), values that are not Hounsfield units (rescale,
BitsStored), silent damage (a compressed frame cut short, one bad slice among good ones)."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames

from lunglens.io import LoadError, discover, load
from lunglens.io.dicom import HEADER_LIMIT_BYTES
from lunglens.io.plausible import PHYSICAL_HU, PhysicalRange
from tests.factory import patch_bytes, write_ct_slice, write_series

#: A hang is a test that never ends; this bounds it (generous: the real cost is milliseconds).
HANG_GUARD_S = 120


def finishes(function, *args):
    """Run `function(*args)` in a thread; its result, or a failure when it does not return (a
    hang) within HANG_GUARD_S. Exceptions are re-raised."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = function(*args)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG_GUARD_S)
    assert not thread.is_alive(), f"{function.__name__} hangs"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _good_series(folder: Path, n: int = 4, **kwargs) -> list[Path]:
    volume = np.full((n, 16, 16), 1024, np.uint16)  # 0 HU
    volume[:, 4:12, 4:12] = 200  # lung-like -824 HU
    return write_series(folder, volume, np.arange(n) * -2.0, **kwargs)


# --- hangs ---------------------------------------------------------------------------------
def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _socket(path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()


def _link_to_char_device(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _broken_link(path: Path) -> None:
    path.symlink_to(path.parent / "absent.dcm")


@pytest.mark.parametrize(
    "make, reason",
    [
        (_fifo, "not a regular file (a named pipe)"),
        (_socket, "not a regular file (a socket)"),
        (_link_to_char_device, "not a regular file (a character device)"),
        (_broken_link, "a broken link"),
    ],
    ids=["fifo", "socket", "link-to-dev-zero", "broken-link"],
)
@pytest.mark.parametrize("name", ["IM0001.dcm", "IM0001.tif", "IM0001"])
def test_only_regular_files_are_read(tmp_path, make, reason, name):
    _good_series(tmp_path / "series")
    make(tmp_path / "series" / name)
    found = finishes(discover, tmp_path)
    assert [(s.path.name, s.reason) for s in found.skipped] == [(name, reason)]
    series = finishes(load, found.series[0])
    assert series.n_slices == 4


def _dicom_preamble_then_zeros(path: Path) -> None:
    """A valid file meta header, then gigabytes of zeros (a sparse file)."""
    write_ct_slice(
        path, np.zeros((4, 4), np.uint16), series_uid="1.2.3", position=(0, 0, 0), instance_number=1
    )
    data = path.read_bytes()
    meta_end = data.index(b"\x08\x00")  # first dataset element after the file meta group
    path.write_bytes(data[:meta_end])
    os.truncate(path, 4 << 30)


def _giant_element_before_pixels(path: Path) -> None:
    """A 1 GiB private OB element (sparse) between the header and the pixel data."""
    ds = pydicom.Dataset()
    write_ct_slice(
        path, np.zeros((4, 4), np.uint16), series_uid="1.2.3", position=(0, 0, 0), instance_number=1
    )
    ds = pydicom.dcmread(path)
    ds.add_new(0x00291010, "OB", b"")
    ds.save_as(path)
    data = path.read_bytes()
    tag = data.index(b"\x29\x00\x10\x10OB\x00\x00")
    giant = 1 << 30
    head, tail = data[: tag + 8], data[tag + 12 :]
    with open(path, "wb") as fh:
        fh.write(head + giant.to_bytes(4, "little"))
        fh.seek(giant, os.SEEK_CUR)
        fh.write(tail)


@pytest.mark.parametrize(
    "make, reason",
    [
        (_dicom_preamble_then_zeros, "malformed DICOM header"),
        (_giant_element_before_pixels, f"header longer than {HEADER_LIMIT_BYTES >> 20} MiB"),
    ],
    ids=["preamble-then-4GiB-of-zeros", "1GiB-element-before-pixels"],
)
def test_huge_files_are_refused_after_a_bounded_read(tmp_path, make, reason):
    make(tmp_path / "huge.dcm")
    found = finishes(discover, tmp_path)
    (skipped,) = found.skipped
    assert reason in skipped.reason


def _claim(path: Path, frames: int, encapsulated: bool) -> None:
    write_ct_slice(
        path, np.zeros((64, 64), np.uint16), series_uid="1.2.3", position=(0, 0, 0), instance_number=1
    )
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = frames
    if encapsulated:
        ds.PixelData = encapsulate([b"\xff\xd8" + b"\0" * 100 + b"\xff\xd9"])
        ds.file_meta.TransferSyntaxUID = pydicom.uid.JPEGLosslessSV1
    ds.save_as(path)


@pytest.mark.parametrize(
    "frames, encapsulated",
    [(2, False), (5_000_000, False), (5_000_000, True)],
    ids=["2-native", "5M-native", "5M-encapsulated"],
)
def test_header_claims_are_checked_against_the_file_size(tmp_path, frames, encapsulated):
    _claim(tmp_path / "claims.dcm", frames, encapsulated)
    found = finishes(discover, tmp_path)
    (skipped,) = found.skipped
    assert f"header claims {frames}" in skipped.reason
    assert found.series == ()


def test_bits_allocated_and_stored_must_fit(tmp_path):
    path = write_ct_slice(
        tmp_path / "a.dcm",
        np.zeros((4, 4), np.uint16),
        series_uid="1.2",
        position=(0, 0, 0),
        instance_number=1,
    )
    ds = pydicom.dcmread(path)
    ds.BitsStored = 20
    ds.save_as(path)
    (skipped,) = discover(tmp_path).skipped
    assert skipped.reason == "BitsStored 20 does not fit BitsAllocated 16"


# --- tracebacks ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "orientation",
    [(1, 0, 0, 1, 0, 0), (0, 0, 0, 0, 0, 0), (1, 0, 0, -1, 0, 0)],
    ids=["equal", "zero", "opposite"],
)
def test_degenerate_orientation_is_a_named_problem(tmp_path, orientation):
    _good_series(tmp_path, orientation=orientation)
    (ref,) = discover(tmp_path).series
    assert not ref.analysable
    assert any("degenerate ImageOrientationPatient" in p for p in ref.problems)


def test_orientation_that_is_not_numbers_counts_as_missing(tmp_path):
    paths = _good_series(tmp_path, orientation=(1.25, 0, 0, 0, 1, 0))
    for path in paths:
        patch_bytes(path, b"1.25", b"nan")
    (ref,) = discover(tmp_path).series
    assert ref.orientation == "unknown" and "not axial (unknown)" in ref.problems


# --- values that are not Hounsfield units ---------------------------------------------------
SLOPE_PLACEHOLDER = b"1.234567"  # written as the slope, then replaced by the text under test


def _series_with_slope_text(folder: Path, text: bytes) -> list[Path]:
    paths = _good_series(folder, slope=1.234567, intercept=-1024 * 1.234567)
    for path in paths:
        patch_bytes(path, SLOPE_PLACEHOLDER, text)
    return paths


@pytest.mark.parametrize(
    "text, reason",
    [
        (b"nan", "RescaleSlope 'nan' is not a finite number"),
        (b"inf", "RescaleSlope 'inf' is not a finite number"),
        (b"-inf", "RescaleSlope '-inf' is not a finite number"),
        (b"0", "RescaleSlope 0 is not positive"),
        (b"-1", "RescaleSlope -1 is not positive"),
        (b"1e30", "values are not Hounsfield units"),
        (b"1e-30", "values are not Hounsfield units"),
        (b"x", "RescaleSlope 'x' is not a finite number"),
    ],
)
def test_rescale_slope_that_gives_no_hu_is_refused(tmp_path, text, reason):
    _series_with_slope_text(tmp_path, text)
    (ref,) = discover(tmp_path).series
    with pytest.raises(LoadError, match="no slice could be decoded") as caught:
        load(ref)
    assert reason in str(caught.value)


@pytest.mark.parametrize("intercept", [1e9, -1e9, 5000.0, -3000.0])
def test_rescale_intercept_out_of_physical_range_is_refused(tmp_path, intercept):
    _good_series(tmp_path, intercept=intercept)
    with pytest.raises(LoadError, match="values are not Hounsfield units"):
        load(discover(tmp_path).series[0])


def _bits_stored(path: Path, bits: int) -> None:
    ds = pydicom.dcmread(path)
    ds.BitsStored, ds.HighBit = bits, bits - 1
    ds.save_as(path)


@pytest.mark.parametrize(
    "stored, bits, refused",
    [
        (np.uint16([1024, 60000]), 12, "stored values up to 60000 do not fit BitsStored 12"),
        (np.uint16([1024, 3000]), 8, "stored values up to 3000 do not fit BitsStored 8"),
        (np.int16([0, -30000]), 12, "stored values use more bits than BitsStored 12"),
        (np.uint16([24, 4095]), 12, None),  # fits
        (np.int16([0, -1000]), 12, None),  # sign-extended
    ],
)
def test_bits_stored_must_describe_the_data(tmp_path, stored, bits, refused):
    plane = np.resize(stored, (16, 16)).astype(stored.dtype)
    plane[:12] = stored[0]
    paths = write_series(
        tmp_path, np.stack([plane] * 4), [0, -2, -4, -6], intercept=-1024 if plane.dtype.kind == "u" else 0
    )
    for path in paths:
        _bits_stored(path, bits)
    ref = discover(tmp_path).series[0]
    if refused is None:
        assert load(ref).n_slices == 4
        return
    with pytest.raises(LoadError) as caught:
        load(ref)
    assert refused in str(caught.value)


def test_zero_filled_signed_values_are_sign_extended(tmp_path):
    """Signed 12-bit values stored with zeros above bit 11 are legal: -1000 reads -1000."""
    plane = np.full((16, 16), -1000, np.int16)
    zero_filled = (plane.view(np.uint16) & 0x0FFF).view(np.int16)
    paths = write_series(tmp_path, np.stack([zero_filled] * 4), [0, -2, -4, -6], intercept=0)
    for path in paths:
        _bits_stored(path, 12)
    assert (load(discover(tmp_path).series[0]).hu == -1000).all()


@pytest.mark.parametrize("padding_hu, fraction", [(-3024, 0.25), (-2048, 0.3), (-2000, 0.45)])
def test_out_of_field_of_view_pixels_without_padding_attribute_still_load(tmp_path, padding_hu, fraction):
    """Real scanners store the corners outside the round field of view at -2000...-3024 HU without
    PixelPaddingValue: such slices are CT, not garbage."""
    plane = np.full((20, 20), 0, np.int16)
    plane.flat[: int(fraction * plane.size)] = padding_hu
    write_series(tmp_path, np.stack([plane] * 4), [0, -2, -4, -6], intercept=0)
    assert load(discover(tmp_path).series[0]).n_slices == 4


def test_physical_range_rule_is_data():
    hu = np.array([-3024, -1000, 0, 3000, 30000], np.int16)
    assert PHYSICAL_HU.inside_fraction(hu) == pytest.approx(0.6)
    assert PHYSICAL_HU.problem(hu) is None
    assert PhysicalRange(min_inside_fraction=0.7).problem(hu).startswith("values are not Hounsfield units")


# --- silent damage -------------------------------------------------------------------------
def test_one_bad_slice_is_dropped_and_named(tmp_path):
    paths = _series_with_slope_text(tmp_path, b"1.234567")  # all good...
    patch_bytes(paths[2], SLOPE_PLACEHOLDER, b"inf")  # ...but one
    series = load(discover(tmp_path).series[0])
    assert series.n_slices == 3 and paths[2] not in series.source_paths
    assert any(paths[2].name in w and "RescaleSlope 'inf'" in w for w in series.warnings)


@pytest.fixture
def jpeg_lossless_slice(covid_ct_md) -> Path:
    return sorted((covid_ct_md / "P001").glob("*.dcm"))[70]


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_compressed_frame_cut_short_is_refused(tmp_path, jpeg_lossless_slice, keep):
    """A JPEG-Lossless stream cut in the middle decodes to half an image of made-up rows; it is
    refused with its reason, never shown."""
    good = pydicom.dcmread(jpeg_lossless_slice)
    frame = next(generate_frames(good.PixelData, number_of_frames=1))
    for i, position in enumerate([0, -5, -10, -15]):
        ds = pydicom.dcmread(jpeg_lossless_slice)
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.ImagePositionPatient = [0, 0, position]
        if i == 1:
            ds.PixelData = encapsulate([frame[: int(len(frame) * keep)]])
        ds.save_as(tmp_path / f"s{i}.dcm")
    series = load(discover(tmp_path).series[0])
    assert series.n_slices == 3
    assert any("s1.dcm" in w and "cut short (no end-of-image marker)" in w for w in series.warnings)


@pytest.mark.parametrize(
    "where",
    ["before the delimiter", "after the offset table", "inside a fragment's header", "inside a fragment"],
)
def test_a_compressed_file_cut_anywhere_is_skipped_at_discovery_naming_it(
    tmp_path, jpeg_lossless_slice, where
):
    """Discovery walks the items of encapsulated pixel data (8-byte headers, nothing decoded):
    wherever the file was cut, it is skipped with its reason, never counted in a series that
    then loses a slice at load."""
    data = jpeg_lossless_slice.read_bytes()
    value = data.index(b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff") + 12  # PixelData, undefined length
    first_fragment = (
        value + 8 + int.from_bytes(data[value + 4 : value + 8], "little")
    )  # after the offset table
    cut = {
        "before the delimiter": len(data) - 8,
        "after the offset table": first_fragment,
        "inside a fragment's header": first_fragment + 4,
        "inside a fragment": first_fragment + 100,
    }[where]
    for i in range(3):
        ds = pydicom.dcmread(jpeg_lossless_slice)
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.ImagePositionPatient = [0, 0, -5 * i]
        ds.save_as(tmp_path / f"s{i}.dcm")
    (tmp_path / "cut.dcm").write_bytes(data[:cut])
    found = discover(tmp_path)
    assert [s.n_slices for s in found.series] == [3]
    ((path, reason),) = [(s.path, s.reason) for s in found.skipped]
    assert path.name == "cut.dcm" and reason.startswith("file cut short")


def test_the_uncut_frame_still_loads(tmp_path, jpeg_lossless_slice):
    ds = pydicom.dcmread(jpeg_lossless_slice)
    for i, position in enumerate([0, -5, -10]):
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.ImagePositionPatient = [0, 0, position]
        ds.save_as(tmp_path / f"s{i}.dcm")
    series = load(discover(tmp_path).series[0])
    assert series.n_slices == 3 and not any("skipped" in w for w in series.warnings)


@pytest.mark.parametrize("other", [0, 2, 4])
def test_a_slice_of_another_modality_is_not_taken_into_the_ct_series(tmp_path, other):
    """The CT part keeps the bare UID (what `--series UID` and a DICOMweb job name) wherever the
    other slice lies in the files' order."""
    paths = _good_series(tmp_path, n=5)
    mr = pydicom.dcmread(paths[other])
    mr.Modality = "MR"
    mr.save_as(paths[other])
    ct, mr_part = sorted(discover(tmp_path).series, key=lambda ref: ref.modality)
    assert ct.modality == "CT" and ct.n_slices == 4 and ct.analysable
    assert paths[other] not in {path for path, _ in ct.frames}
    assert ct.key == mr.SeriesInstanceUID and mr_part.key == f"{mr.SeriesInstanceUID}#2"
    assert mr_part.modality == "MR" and not mr_part.analysable
    assert "SeriesInstanceUID shared by 2 series; split here" in ct.warnings
    assert load(ct).hu.shape[0] == 4


def test_files_removed_or_emptied_after_discovery_are_named_plainly(tmp_path):
    """A batch reads a folder long after planning it: a file gone or emptied since is said to be
    so, not "truncated or malformed (FileNotFoundError: ...)" or a decoder's AttributeError."""
    stored = np.full((6, 16, 16), 1064, np.uint16)
    stored[:, :4] = 24  # air
    paths = write_series(tmp_path, stored, np.arange(6) * -2.0)
    ref = discover(tmp_path).series[0]
    paths[1].unlink()
    paths[2].write_bytes(b"")
    series = load(ref)
    assert series.n_slices == 4
    assert f"skipped {paths[1].name}: no longer there (removed after the folder was read)" in series.warnings
    assert f"skipped {paths[2].name}: empty file (0 bytes)" in series.warnings
