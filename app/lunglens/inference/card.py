"""The model card: the JSON file beside every `models/<name>.onnx` (DESIGN.md section 2).

The app reads it to check the ONNX file (sha256, shapes) and to show and report what the
model is; the export and conversion scripts in `models/` write it with `ModelCard.save`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import ClassVar, Self

from lunglens.atomic import write_atomically
from lunglens.inference.preprocess import MODEL_SIZE
from lunglens.io.files import open_regular, read_text

CARD_FORMAT = 1


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks. Raises `NotRegularFileError` (an OSError) for
    a pipe or a device, which would never end."""
    digest = hashlib.sha256()
    with open_regular(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: A card is read whole, up to this size (real cards are a few KiB).
CARD_LIMIT_BYTES = 1 << 20


class JsonCard:
    """What every model card (`ModelCard`, the lesion model's `LesionModelCard`) does alike: it is
    written as JSON, saved atomically and read from a regular file of at most `CARD_LIMIT_BYTES`.
    A subclass is a frozen dataclass with a `from_dict` that starts from `fields_of`."""

    KIND: ClassVar[str]
    """What messages call such a card ("model card")."""
    DERIVED: ClassVar[tuple[str, ...]] = ()
    """Properties written to the JSON beside the fields, for readers of the file (read back: ignored)."""

    def to_json(self) -> str:
        """The card as JSON text: its fields, then the `DERIVED` properties."""
        data = asdict(self) | {name: getattr(self, name) for name in self.DERIVED}
        return json.dumps(data, indent=2) + "\n"

    def save(self, path: Path) -> None:
        """Write the card to `path` atomically: a failed or killed write leaves the card that was
        there (the model stays loadable). Raises WriteError."""
        write_atomically(Path(path), self.to_json().encode("utf-8"))

    @staticmethod
    def json_object(data: object) -> dict:
        """`data` when it is a JSON object (a dict); ValueError naming what it is otherwise."""
        if not isinstance(data, dict):
            raise ValueError(f"a card is a JSON object, not {type(data).__name__}")
        return data

    @classmethod
    def fields_of(cls, data: object) -> dict:
        """The card's fields in `data` (other keys dropped); ValueError when `data` is not a JSON
        object or lacks a field with no default."""
        cls.json_object(data)
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        missing = [name for name in required if name not in data]
        if missing:
            raise ValueError(f"{cls.KIND} lacks {', '.join(missing)}")
        return {k: v for k, v in data.items() if k in cls.__dataclass_fields__}

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read a card; raises ValueError naming the file when it is not a valid card (or not a
        regular file: a pipe or a device is never read)."""
        try:
            return cls.from_dict(json.loads(read_text(path, CARD_LIMIT_BYTES)))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{path}: not a valid {cls.KIND} ({exc})") from exc


@dataclass(frozen=True)
class ModelCard(JsonCard):
    """What a model is, where it came from and how it must be fed.

    Input `image`: float32 [N, 1, input_size, input_size] on the raw scale
    (HU + 1024, clipped to 0..65535, no normalisation); `input_size` is 512, the one size the
    app feeds (`preprocess.MODEL_SIZE`). Outputs `probabilities` [N, 2] in the order of
    `class_names`, and `cam` [N, 1, cam_size[0], cam_size[1]], non-negative and unnormalised,
    the Grad-CAM of class `cam_target_index`, which must be `covid_index` (the viewer and the
    reports show it as the Grad-CAM of the COVID-19 class).
    """

    name: str
    version: str
    onnx_file: str
    """File name of the ONNX model, relative to the card's folder."""
    sha256: str
    class_names: tuple[str, ...]
    covid_index: int
    cam_target_index: int
    cam_size: tuple[int, int]
    provenance: dict
    """Where the weights came from: {"kind": "trained", "data": ..., "epochs": ...} or
    {"kind": "converted", "source_file": ..., "source_sha256": ...}."""
    intended_use: str
    licence: str
    input_size: int = 512
    input_scale: str = "raw = clip(HU + 1024, 0, 65535), float32, no normalisation"
    architecture: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    card_format: int = CARD_FORMAT

    KIND: ClassVar[str] = "model card"

    @classmethod
    def from_dict(cls, data: dict) -> ModelCard:
        """A card from its JSON object; raises ValueError naming the first field that is missing
        or of the wrong kind."""
        values = cls.fields_of(data)
        for name, check in FIELD_CHECKS.items():
            if name in values and not check.test(values[name]):
                raise ValueError(f"field {name!r} must be {check.what}, found {values[name]!r}")
        if values["cam_target_index"] != values["covid_index"]:
            raise ValueError(
                f"field 'cam_target_index' must equal covid_index ({values['covid_index']}): the CAM is "
                f"shown and reported as the Grad-CAM of the COVID-19 class, found {values['cam_target_index']}"
            )
        values["class_names"] = tuple(values["class_names"])
        if "cam_size" in values:
            values["cam_size"] = tuple(values["cam_size"])
        return cls(**values)


@dataclass(frozen=True)
class _Check:
    what: str
    test: Callable[[object], bool]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_file_name(value) -> bool:
    return _is_text(value) and not value.endswith(("/", "\\")) and Path(value).name not in ("", ".", "..")


#: What each card field must hold (the rest of the card is free text or free-form metadata).
FIELD_CHECKS: dict[str, _Check] = {
    "name": _Check("a non-empty string", _is_text),
    "version": _Check("a non-empty string", _is_text),
    "onnx_file": _Check("a file name (a non-empty string)", _is_file_name),
    "sha256": _Check(
        "64 hexadecimal digits",
        lambda v: isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v.lower()),
    ),
    "class_names": _Check(
        "a list of two class names",
        lambda v: isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_text(c) for c in v),
    ),
    "covid_index": _Check("0 or 1", lambda v: _is_int(v) and v in (0, 1)),
    "cam_target_index": _Check("0 or 1", lambda v: _is_int(v) and v in (0, 1)),
    "cam_size": _Check(
        "two positive integers [h, w]",
        lambda v: isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_int(n) and n > 0 for n in v),
    ),
    "input_size": _Check(
        f"{MODEL_SIZE} (the app feeds {MODEL_SIZE} x {MODEL_SIZE} images)",
        lambda v: _is_int(v) and v == MODEL_SIZE,
    ),
    "provenance": _Check("an object", lambda v: isinstance(v, dict)),
    "architecture": _Check("an object", lambda v: isinstance(v, dict)),
    "metrics": _Check("an object", lambda v: isinstance(v, dict)),
    "intended_use": _Check("a string", lambda v: isinstance(v, str)),
    "licence": _Check("a string", lambda v: isinstance(v, str)),
    "input_scale": _Check("a string", lambda v: isinstance(v, str)),
    "card_format": _Check("an integer", _is_int),
}
