"""The model card: the JSON file beside every `models/<name>.onnx` (DESIGN.md section 2).

The app reads it to check the ONNX file (sha256, shapes) and to show and report what the
model is; the export and conversion scripts in `models/` write it with `ModelCard.save`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

CARD_FORMAT = 1


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelCard:
    """What a model is, where it came from and how it must be fed.

    Input `image`: float32 [N, 1, input_size, input_size] on the raw scale
    (HU + 1024, clipped to 0..65535, no normalisation). Outputs `probabilities` [N, 2] in
    the order of `class_names`, and `cam` [N, 1, cam_size[0], cam_size[1]], non-negative and
    unnormalised, the Grad-CAM of class `cam_target_index`.
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

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False) + "\n"

    def save(self, path: Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def from_dict(cls, data: dict) -> ModelCard:
        known = {f for f in cls.__dataclass_fields__}
        missing = [k for k in ("name", "version", "onnx_file", "sha256", "class_names") if k not in data]
        if missing:
            raise ValueError(f"model card lacks {', '.join(missing)}")
        values = {k: v for k, v in data.items() if k in known}
        values["class_names"] = tuple(values["class_names"])
        values["cam_size"] = tuple(values["cam_size"])
        return cls(**values)

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        """Read a card; raises ValueError naming the file when it is not a valid card."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls.from_dict(data)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{path}: not a valid model card ({exc})") from exc
