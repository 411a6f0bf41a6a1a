"""Walk a patient folder and list the series in it, without decoding pixels.

DICOM files are recognised by content (any name or extension), grouped by SeriesInstanceUID and
split when modality, orientation, image size, pixel spacing or the scanner pass differ inside one UID
(a pass: two slices at one position belong to different passes). TIFF slices are grouped by
folder (COVID-CTset: `<patient>/SR_2/IM00001.tif`, one series per folder). Every file that is
not used is reported with its reason, and so is every folder not entered (hidden, or a symbolic
link)."""

from __future__ import annotations

import os
import stat
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from lunglens.io.dicom import (
    CT_IMAGE_STORAGE,
    DicomFileError,
    FrameHeader,
    frame_headers,
    looks_like_dicom,
    read_dataset,
)
from lunglens.io.files import names_listed, not_regular_reason
from lunglens.io.geometry import orientation_name, orientation_problem, spacing_report, superior_positions_mm
from lunglens.io.series import SeriesRef
from lunglens.io.tiff import TIFF_SUFFIXES, TiffFileError, natural_key, tiff_shape

#: Fewer slices than this cannot be analysed (the selector's threshold needs a series).
MIN_SLICES = 3


@dataclass(frozen=True)
class SkippedFile:
    """A file (or a folder not entered) that is not part of any series, and why."""

    path: Path
    reason: str

    @property
    def kind(self) -> str:
        """The reason without its particulars: "file cut short" for "file cut short: a fragment of
        N bytes ...", "duplicate" for "duplicate of a.dcm (same SOP Instance UID)"."""
        return "duplicate" if self.reason.startswith("duplicate of ") else self.reason.split(": ")[0]


#: Kinds of skipped entries a sentence about them names, and names of files per kind.
KINDS_NAMED = 3


Origin = Callable[[Path], tuple[str, str]]
"""For a folder that is a temporary copy of a server's series (a DICOMweb retrieval, removed once
used): one of its files' (UID, series address) there, e.g. ("1.2.3.4", "https://pacs/dicom-web/
studies/1.2/series/1.2.3"). Messages name the files so: the copy will be gone when they are read."""


def skipped_text(entries: list[SkippedFile], where: str = "", origin: Origin | None = None) -> str:
    """ "20 entries{where} skipped (file cut short: a.dcm, b.dcm, c.dcm and 17 more; duplicate:
    d.dcm; `lunglens info FOLDER --skipped` says why in full)": the entries by kind, the first named.
    With `origin` (a temporary copy) the entries are named by their UID and the sentence ends
    with their series' address ("...; instances of https://pacs/.../series/1.2.3)")."""
    names_by_kind: dict[str, list[str]] = defaultdict(list)
    for entry in entries:
        names_by_kind[entry.kind].append(origin(entry.path)[0] if origin else entry.path.name)
    groups = [f"{kind}: {names_listed(names)}" for kind, names in list(names_by_kind.items())[:KINDS_NAMED]]
    if len(names_by_kind) > KINDS_NAMED:
        groups.append("...")
    if origin:
        groups.append(f"instances of {', '.join(dict.fromkeys(origin(entry.path)[1] for entry in entries))}")
    else:
        groups.append("`lunglens info FOLDER --skipped` says why in full")
    count = f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
    return f"{count}{where} skipped ({'; '.join(groups)})"


@dataclass(frozen=True)
class Discovery:
    """What `discover` found in a folder."""

    folder: Path
    series: tuple[SeriesRef, ...]
    skipped: tuple[SkippedFile, ...]
    unread_folders: tuple[tuple[Path, tuple[SkippedFile, ...]], ...] = ()
    """Folders that hold none of the series' files but skipped entries that may be CT slices
    (`_ct_slice_series`: a copy still arriving, 8-bit TIFF, copies of another folder), with those
    entries: perhaps the series the reader was after."""
    origin: Origin | None = None
    """Where the folder's files came from when it is a temporary copy (`discover`)."""

    def unread_folders_text(self) -> list[str]:
        """One sentence per folder of `unread_folders`: "FOLDER: no series: 36 entries skipped (...)"
        (with `origin`, the series' address in place of the folder)."""
        return [
            f"{self.origin(entries[0].path)[1] if self.origin else folder}: no series: "
            f"{skipped_text(list(entries), origin=self.origin)}"
            for folder, entries in self.unread_folders
        ]

    @property
    def analysable(self) -> tuple[SeriesRef, ...]:
        return tuple(s for s in self.series if s.analysable)

    @property
    def skipped_count(self) -> str:
        """ "1 entry" / "5 entries": the files and folders skipped (a folder not entered is one)."""
        return f"{len(self.skipped)} entr{'y' if len(self.skipped) == 1 else 'ies'}"

    def problem(self) -> str | None:
        """A sentence for the user when the folder holds no series at all, else None."""
        if self.series:
            return None
        if not self.skipped:
            return f"{self.folder}: the folder holds no files"
        reasons = sorted({s.reason for s in self.skipped})
        shown = "; ".join(reasons[:3]) + ("; ..." if len(reasons) > 3 else "")
        return f"{self.folder}: no readable CT images among {self.skipped_count} ({shown})"


class FolderError(Exception):
    """The folder itself cannot be read."""


HIDDEN_FILE_REASON = "hidden file (its name starts with a dot), not read"
HIDDEN_FOLDER_REASON = "hidden folder (its name starts with a dot), not entered"
LINKED_FOLDER_REASON = "symbolic link to a folder, not followed"
NOT_AN_IMAGE_REASON = "not a DICOM or TIFF image"
"""Why a linked folder is not entered: a link may loop back above itself, or lead out of the folder."""


def _walk(folder: Path, skipped: list[SkippedFile]) -> list[Path]:
    """All files under `folder`, in a stable order. Hidden files and folders and symbolic links
    to folders are left out, each added to `skipped` with its reason (a hidden folder once, its
    contents not read)."""
    files = []
    for root, dirs, names in os.walk(folder):
        entered = []
        for name in sorted(dirs):
            path = Path(root) / name
            if name.startswith("."):
                skipped.append(SkippedFile(path, HIDDEN_FOLDER_REASON))
            elif path.is_symlink():
                skipped.append(SkippedFile(path, LINKED_FOLDER_REASON))
            else:
                entered.append(name)
        dirs[:] = entered
        for name in sorted(names, key=lambda n: natural_key(Path(n))):
            if name.startswith("."):
                skipped.append(SkippedFile(Path(root) / name, HIDDEN_FILE_REASON))
            else:
                files.append(Path(root) / name)
    return files


def discover(folder: str | os.PathLike, origin: Origin | None = None) -> Discovery:
    """List the series under `folder` (recursively). Never decodes pixels, never writes; reads
    regular files only (pipes, devices and sockets are skipped with their reason) and each
    file's header at a bounded cost (`lunglens.io.dicom.read_header`); hidden files and folders
    and symbolic links to folders are skipped with their reason (`_walk`). With `origin` (a
    temporary copy of a server's series), warnings name skipped files as the server does."""
    folder = Path(folder)
    try:
        mode = os.stat(folder).st_mode
    except FileNotFoundError:
        raise FolderError(f"{folder}: no such folder") from None
    except OSError as exc:  # a name too long, a symbolic-link loop
        raise FolderError(f"{folder}: cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISDIR(mode):
        raise FolderError(f"{folder}: not a folder")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise FolderError(f"{folder}: permission denied")

    skipped: list[SkippedFile] = []
    dicom_frames: list[FrameHeader] = []
    tiff_folders: dict[Path, list[Path]] = defaultdict(list)
    for path in _walk(folder, skipped):
        not_regular = not_regular_reason(path)
        if not_regular:
            skipped.append(SkippedFile(path, not_regular))
        elif path.suffix.lower() in TIFF_SUFFIXES:
            tiff_folders[path.parent].append(path)
        elif looks_like_dicom(path):
            try:
                dicom_frames.extend(frame_headers(path))
            except DicomFileError as exc:
                skipped.append(SkippedFile(path, str(exc)))
        else:
            skipped.append(SkippedFile(path, NOT_AN_IMAGE_REASON))

    series = _dicom_series(dicom_frames, skipped)
    for tiff_folder, paths in tiff_folders.items():
        ref = _tiff_series(tiff_folder, paths, skipped)
        if ref is not None:
            series.append(ref)
    candidates = {
        entry: series_uid for entry in skipped if (series_uid := _ct_slice_series(entry)) is not None
    }
    series = [_with_skipped_beside(ref, candidates, origin) for ref in series]
    series_folders = {path.parent for ref in series for path, _ in ref.frames}
    unread: dict[Path, list[SkippedFile]] = defaultdict(list)
    for entry in candidates:
        if entry.path.parent not in series_folders:
            unread[entry.path.parent].append(entry)
    return Discovery(
        folder,
        tuple(series),
        tuple(skipped),
        tuple((path, tuple(entries)) for path, entries in unread.items()),
        origin,
    )


def _ct_slice_series(entry: SkippedFile) -> str | None:
    """Whether a skipped entry may be (part of) a CT series left out, and of which: its
    SeriesInstanceUID ("" when it cannot be told), None when it cannot be one. It may be a folder
    not entered (a link), a TIFF file, or a DICOM file whose header says CT (Modality, or a CT SOP
    class, of the file meta when cut before the data set's) or cannot be read (cut short). Not a
    hidden entry (never read, by design: AppleDouble `._` files), a file that is no DICOM or TIFF
    (label tables, notes, a batch's outputs: known from its reason, not opened again), nor a
    DICOM object of another modality or none (a DICOMDIR beside the series of an export, a
    structured report)."""
    path = entry.path
    if entry.reason in (HIDDEN_FILE_REASON, HIDDEN_FOLDER_REASON, NOT_AN_IMAGE_REASON):
        return None
    if entry.reason == LINKED_FOLDER_REASON or path.suffix.lower() in TIFF_SUFFIXES:
        return ""
    if not looks_like_dicom(path):
        return None
    try:
        header = read_dataset(path, pixels=False)
    except DicomFileError:
        return ""
    meta = getattr(header, "file_meta", None) or {}
    sop_class = str(header.get("SOPClassUID", "") or meta.get("MediaStorageSOPClassUID", ""))
    if header.get("Modality", "") != "CT" and sop_class not in CT_IMAGE_STORAGE:
        return None
    return str(header.get("SeriesInstanceUID", ""))


def _with_skipped_beside(
    ref: SeriesRef, candidates: dict[SkippedFile, str], origin: Origin | None
) -> SeriesRef:
    """`ref` with the entries skipped in the folders holding its files that may be slices of it
    (`candidates`: entry → SeriesInstanceUID, "" unknown; one of another series is not) as a
    warning naming them by kind and as `skipped_beside`."""
    folders = {path.parent for path, _ in ref.frames}
    uid = ref.key.split("#")[0] if ref.source_format == "dicom" else ""
    beside = [
        entry
        for entry, series_uid in candidates.items()
        if entry.path.parent in folders and (not series_uid or not uid or series_uid == uid)
    ]
    if not beside:
        return ref
    warning = skipped_text(beside, where=" in the series' folder", origin=origin)
    return replace(ref, warnings=(*ref.warnings, warning), skipped_beside=tuple(s.path for s in beside))


def _dicom_series(frames: list[FrameHeader], skipped: list[SkippedFile]) -> list[SeriesRef]:
    seen: dict[tuple[str, int | None], Path] = {}
    groups: dict[tuple, list[FrameHeader]] = defaultdict(list)
    for header in frames:
        identity = (header.sop_instance_uid, header.frame)
        if header.sop_instance_uid and identity in seen:
            skipped.append(
                SkippedFile(header.path, f"duplicate of {seen[identity].name} (same SOP Instance UID)")
            )
            continue
        seen[identity] = header.path
        orientation = tuple(np.round(header.orientation, 3)) if header.orientation else None
        spacing = tuple(np.round(header.pixel_spacing_mm, 3)) if header.pixel_spacing_mm else None
        key = (
            header.series_uid,
            header.modality,
            orientation,
            header.rows,
            header.columns,
            spacing,
            header.samples_per_pixel,
        )
        groups[key].append(header)

    refs = []
    split_count: dict[str, int] = defaultdict(int)
    # CT parts first: a UID's CT series keeps the bare UID as its key, whatever the files' order
    for key, members in sorted(groups.items(), key=lambda group: group[0][1] != "CT"):
        for part in _split_passes(members):
            uid = key[0]
            split_count[uid] += 1
            suffix = "" if split_count[uid] == 1 else f"#{split_count[uid]}"
            refs.append(_dicom_ref(uid + suffix, part))
    parts_per_uid = {k: v for k, v in split_count.items() if v > 1}
    return [
        _with_warning(
            r, f"SeriesInstanceUID shared by {parts_per_uid[r.key.split('#')[0]]} series; split here"
        )
        if r.key.split("#")[0] in parts_per_uid
        else r
        for r in refs
    ]


def _with_warning(ref: SeriesRef, warning: str) -> SeriesRef:
    return replace(ref, warnings=(warning, *ref.warnings))


def _split_passes(members: list[FrameHeader]) -> list[list[FrameHeader]]:
    """Split frames into passes so that no two frames of one pass share a position."""
    passes: list[tuple[set, list[FrameHeader]]] = []
    for header in members:
        where = None if header.position is None else tuple(np.round(header.position, 2))
        for taken, part in passes:
            if where is None or where not in taken:
                taken.add(where)
                part.append(header)
                break
        else:
            passes.append(({where}, [header]))
    return [part for _, part in passes]


def _dicom_ref(key: str, members: list[FrameHeader]) -> SeriesRef:
    first = members[0]
    orientation = orientation_name(first.orientation)
    warnings: list[str] = []
    degenerate = orientation_problem(first.orientation)
    if all(m.position is not None for m in members) and first.orientation is not None and not degenerate:
        positions = superior_positions_mm(np.array([m.position for m in members]), first.orientation)
        order = np.argsort(-positions, kind="stable")
        _, spacing_warnings = spacing_report(positions[order])
        warnings.extend(spacing_warnings)
    else:
        numbers = [m.instance_number if m.instance_number is not None else 0 for m in members]
        order = np.argsort(numbers, kind="stable")
        if len(members) > 1:
            warnings.append("no slice positions: ordered by InstanceNumber")
    ordered = [members[i] for i in order]

    problems = []
    if first.modality != "CT":
        problems.append(f"not CT (modality {first.modality or 'missing'})")
    if first.samples_per_pixel != 1:
        problems.append("colour images, not CT slices")
    if degenerate:
        problems.append(degenerate)
    elif orientation != "axial":
        problems.append(f"not axial ({orientation})")
    if len(members) < MIN_SLICES:
        problems.append(f"only {len(members)} slice(s); at least {MIN_SLICES} are needed")
    return SeriesRef(
        key=key,
        source_format="dicom",
        frames=tuple((m.path, m.frame) for m in ordered),
        modality=first.modality,
        orientation=orientation,
        rows=first.rows,
        columns=first.columns,
        pixel_spacing_mm=first.pixel_spacing_mm,
        slice_thickness_mm=first.slice_thickness_mm,
        description=first.description,
        series_number=first.series_number,
        warnings=tuple(warnings),
        problems=tuple(problems),
        patient_name=first.patient_name,
        patient_id=first.patient_id,
        study_uid=first.study_uid,
        study_date=first.study_date,
        study_time=first.study_time,
        study_description=first.study_description,
        burned_in_annotation=any(m.burned_in_annotation for m in members),
        orientation_cosines=first.orientation,
    )


def _tiff_series(folder: Path, paths: list[Path], skipped: list[SkippedFile]) -> SeriesRef | None:
    shapes: dict[Path, tuple[int, int]] = {}
    for path in sorted(paths, key=natural_key):
        try:
            shapes[path] = tiff_shape(path)
        except TiffFileError as exc:
            skipped.append(SkippedFile(path, str(exc)))
    if not shapes:
        return None
    sizes = sorted(set(shapes.values()))
    problems = []
    if len(sizes) > 1:
        listed = ", ".join(f"{c}x{r}" for r, c in sizes)
        problems.append(f"mixed slice sizes ({listed})")
    if len(shapes) < MIN_SLICES:
        problems.append(f"only {len(shapes)} slice(s); at least {MIN_SLICES} are needed")
    rows, columns = sizes[0]
    return SeriesRef(
        key=str(folder),
        source_format="tiff",
        frames=tuple((p, None) for p in shapes),
        modality="CT",
        orientation="axial",
        rows=rows,
        columns=columns,
        pixel_spacing_mm=None,
        slice_thickness_mm=None,
        description=f"{folder.parent.name}/{folder.name}",
        warnings=(
            "TIFF slices carry no geometry: assumed axial, first file most superior, value = HU + 1024",
        ),
        problems=tuple(problems),
    )
