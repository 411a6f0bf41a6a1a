"""Typed, frozen records of what an analysis ran on: the series (no patient identifiers), the
model (from its card) and the execution provider. Each turns into a JSON-able dict and back."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from lunglens.inference.card import ModelCard
from lunglens.inference.session import ProviderChoice
from lunglens.io.series import Series


def _from_dict(cls, data: dict, tuples: tuple[str, ...] = ()):
    """`cls(**data)`, the JSON lists named in `tuples` back to tuples. A missing or unknown field
    raises TypeError."""
    values = dict(data)
    for name in tuples:
        if values.get(name) is not None:
            values[name] = tuple(values[name])
    return cls(**values)


@dataclass(frozen=True)
class SeriesRecord:
    """The analysed series as the result records it: where it came from, its size and geometry,
    and what the loader warned about. No patient identifiers (those stay in `Series.metadata`)."""

    key: str
    """SeriesInstanceUID (plus a split suffix) for DICOM, the folder path for TIFF."""
    description: str
    folder: str
    n_slices: int
    rows: int
    columns: int
    pixel_spacing_mm: tuple[float, float]
    """(row spacing, column spacing) in mm."""
    slice_spacing_mm: float
    """Distance between neighbouring slice centres (mm)."""
    slice_thickness_mm: float | None
    orientation: str
    source_format: str
    """"dicom" or "tiff"."""
    warnings: tuple[str, ...] = ()
    study_uid: str = ""
    series_uid: str = ""
    series_number: int | None = None
    modality: str = ""
    manufacturer: str = ""
    scanner_model: str = ""
    kernel: str = ""
    anonymised: bool = False
    """True when identifiers were withheld (`lunglens.report.identity.anonymised`)."""
    pixel_spacing_stated: bool = True
    """False when the files state no pixel size and `pixel_spacing_mm` is a nominal 1 mm."""
    positions_stated: bool = True
    """False when the files state no slice positions and the result's positions are assumed
    from the file order (`Series.positions_stated`)."""
    fingerprint: str = ""
    """`Series.fingerprint` of the images analysed; "" in results written before LungLens
    recorded it (whether they match a series cannot be told)."""

    @classmethod
    def of(cls, series: Series) -> SeriesRecord:
        ref, meta = series.ref, series.metadata
        return cls(
            key=ref.key,
            description=ref.description,
            folder=str(ref.folder),
            n_slices=series.n_slices,
            rows=int(series.hu.shape[1]),
            columns=int(series.hu.shape[2]),
            pixel_spacing_mm=tuple(float(s) for s in series.pixel_spacing_mm),
            slice_spacing_mm=float(series.slice_spacing_mm),
            slice_thickness_mm=ref.slice_thickness_mm,
            orientation=ref.orientation,
            source_format=ref.source_format,
            warnings=tuple(series.warnings),
            study_uid=meta.study_uid,
            series_uid=meta.series_uid,
            series_number=ref.series_number,
            modality=ref.modality,
            manufacturer=meta.manufacturer,
            scanner_model=meta.scanner_model,
            kernel=meta.kernel,
            pixel_spacing_stated=series.pixel_spacing_stated,
            positions_stated=series.positions_stated,
            fingerprint=series.fingerprint,
        )

    def same_images(self, series: Series) -> bool | None:
        """Whether `series` holds exactly the images analysed (its key and `Series.fingerprint`);
        None when this record has no fingerprint (an older result) and its key and slice count
        match: it cannot be told."""
        if series.ref.key != self.key or series.n_slices != self.n_slices:
            return False
        return series.fingerprint == self.fingerprint if self.fingerprint else None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SeriesRecord:
        # results written before LungLens recorded it: a TIFF folder's positions were assumed
        data = {"positions_stated": data.get("source_format") != "tiff", **data}
        return _from_dict(cls, data, ("pixel_spacing_mm", "warnings"))


@dataclass(frozen=True)
class ModelRecord:
    """The model that classified the slices, from its card: name, version, the sha256 of its
    .onnx file, class names in output order, which one is COVID-19, the CAM's size (cells),
    where its weights came from and its intended use."""

    name: str
    version: str
    sha256: str
    class_names: tuple[str, ...]
    covid_index: int
    cam_size: tuple[int, int]
    provenance: dict = field(default_factory=dict)
    intended_use: str = ""

    @classmethod
    def of(cls, card: ModelCard) -> ModelRecord:
        return cls(
            name=card.name,
            version=card.version,
            sha256=card.sha256,
            class_names=tuple(card.class_names),
            covid_index=int(card.covid_index),
            cam_size=tuple(int(s) for s in card.cam_size),
            provenance=dict(card.provenance),
            intended_use=card.intended_use,
        )

    @property
    def demonstration(self) -> bool:
        """Whether the card's intended use says this is a demonstration model (the bundled one)."""
        return "demonstration" in self.intended_use.lower()

    @property
    def label(self) -> str:
        """ "lunglens-demo 1.0.0, a demonstration model" (name and version, and what it is when it is
        a demonstration model)."""
        return f"{self.name} {self.version}" + (", a demonstration model" if self.demonstration else "")

    def verdict_caveat(self) -> str:
        """What a verdict of this model cannot tell, under the verdict (the viewer's decision panel
        and the PDF): which model made it when it is a demonstration model, and that it tells only
        its classes apart, so other pneumonias are not recognised as such."""
        classes = " from ".join(self.class_names)
        told = f"The model tells {classes} only: other pneumonias are not recognised and can read either way."
        if self.demonstration:
            return f"Demonstration model {self.name} {self.version}, not for diagnosis. {told}"
        return told

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelRecord:
        return _from_dict(cls, data, ("class_names", "cam_size"))


@dataclass(frozen=True)
class ProviderRecord:
    """Which onnxruntime execution provider ran the model: the one `requested` ("auto", "cpu",
    ...), the one `used` ("CPUExecutionProvider", ...), its `label` for readers ("CPU",
    "GPU (CUDA)") and, when it is not the one asked for, the `reason`."""

    requested: str
    used: str
    label: str
    reason: str = ""

    @classmethod
    def of(cls, choice: ProviderChoice) -> ProviderRecord:
        return cls(requested=choice.requested, used=choice.used, label=choice.label, reason=choice.reason)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ProviderRecord:
        return _from_dict(cls, data)
