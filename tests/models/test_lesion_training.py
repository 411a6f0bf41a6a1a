"""The lesion patch CNN (models/lesion_architecture.py), its dense ONNX export and the conversion of
a patch-contract ONNX (models/export_lesion.py), and the training pieces (models/train_lesion.py):
shapes, ONNX against torch, augmentation range, patch labels, the crude lung region."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("scipy")

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from lunglens.inference.card import sha256_of  # noqa: E402
from lunglens.inference.lesion_model import load_lesion_model  # noqa: E402
from lunglens.inference.session import ModelError  # noqa: E402
from lunglens.quant.lesion_map import hu_to_lesion_grey  # noqa: E402
from models.export_lesion import check_against_torch, convert, export, to_onnx_bytes  # noqa: E402
from models.export_lesion import main as export_lesion_main  # noqa: E402
from models.lesion_architecture import DenseWithSoftmax, PolatPatchCNN  # noqa: E402
from models.train_lesion import (  # noqa: E402
    CROP_PX,
    HEALTHY_DENSE,
    HEALTHY_LUNG,
    LESION,
    OTHER,
    _label_grid,
    augment,
    centre_patches,
    crude_lung_mask,
    torch_predictor,
    training_record,
)
from models.train_lesion import main as train_lesion_main  # noqa: E402


def test_the_network_is_polats_and_maps_patches_to_two_logits():
    model = PolatPatchCNN().eval()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(32, (5, 5)), (64, (5, 5))]
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 2)


def _model(seed: int = 0) -> PolatPatchCNN:
    torch.manual_seed(seed)
    return PolatPatchCNN().eval()


def test_onnx_export_on_patches_is_the_patch_classifier():
    model = _model()
    session = ort.InferenceSession(to_onnx_bytes(model), providers=["CPUExecutionProvider"])
    patches = np.random.default_rng(0).uniform(0, 255, (32, 1, 28, 28)).astype(np.float32)
    onnx_p = session.run(["probabilities"], {"image": patches})[0]
    assert onnx_p.shape == (32, 2, 1, 1)
    assert np.allclose(onnx_p[:, 1, 0, 0], torch_predictor(model)(patches), atol=1e-5)
    assert np.ptp(onnx_p[:, 1]) > 1e-3  # depends on the input


@pytest.mark.parametrize(("height", "width"), [(28, 28), (31, 45), (64, 52), (97, 29)])
def test_dense_export_gives_every_stride_4_patch_of_an_image(height, width):
    model = _model(1)
    session = ort.InferenceSession(to_onnx_bytes(model), providers=["CPUExecutionProvider"])
    image = np.random.default_rng(height).uniform(0, 255, (2, 1, height, width)).astype(np.float32)
    dense = session.run(["probabilities"], {"image": image})[0]
    assert dense.shape == (2, 2, (height - 28) // 4 + 1, (width - 28) // 4 + 1)
    windows = np.lib.stride_tricks.sliding_window_view(image[1, 0], (28, 28))[::4, ::4]
    one_by_one = torch_predictor(model)(np.ascontiguousarray(windows.reshape(-1, 1, 28, 28)))
    assert np.allclose(dense[1, 1].ravel(), one_by_one, atol=1e-5)
    with torch.no_grad():
        assert np.allclose(DenseWithSoftmax(model)(torch.from_numpy(image)).numpy(), dense, atol=1e-5)


def test_export_checks_onnx_against_torch():
    model, other = _model(2), _model(3)
    check_against_torch(model, to_onnx_bytes(model), lesion_index=1)
    with pytest.raises(AssertionError, match="ONNX and torch disagree"):
        check_against_torch(model, to_onnx_bytes(other), lesion_index=1)


class _PatchGraph(torch.nn.Module):
    """The earlier patch-contract export: patches [N, 1, 28, 28] -> probabilities [N, 2]."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, grey):
        return torch.softmax(self.model(grey), dim=1)


def _patch_contract_model(folder: Path, model: PolatPatchCNN) -> dict:
    """Write `model` as the earlier patch graph folder/patch.onnx with its card folder/patch.json
    (card format 1); returns the card."""
    export(model, folder / "lesion.onnx", command="python -m models.train_lesion --test", metrics={"m": 1})
    old = json.loads((folder / "lesion.json").read_text())
    torch.onnx.export(  # the same weights as the earlier patch graph, with its card
        _PatchGraph(model).eval(), (torch.zeros(1, 1, 28, 28),), folder / "patch.onnx", dynamo=False,
        opset_version=17, input_names=["image"], output_names=["probabilities"],
        dynamic_axes={"image": {0: "N"}, "probabilities": {0: "N"}},
    )  # fmt: skip
    old.update(onnx_file="patch.onnx", sha256=sha256_of(folder / "patch.onnx"), card_format=1)
    del old["output_stride"]
    (folder / "patch.json").write_text(json.dumps(old))
    return old


def test_a_patch_contract_model_converts_to_the_dense_graph_with_its_weights_and_card(tmp_path):
    model = _model(4)
    old = _patch_contract_model(tmp_path, model)
    with pytest.raises(ModelError, match="earlier patch contract"):
        load_lesion_model(tmp_path / "patch.json", provider="cpu")

    card = convert(
        tmp_path / "patch.json", tmp_path / "dense.onnx", command="python -m models.export_lesion x"
    )
    assert card.version == "1.1.0" and card.output_stride == 4 and card.card_format == 2
    assert card.command == "python -m models.train_lesion --test" and card.metrics == {"m": 1}
    assert card.provenance["dense_graph"]["converted_from_sha256"] == old["sha256"]
    loaded = load_lesion_model(tmp_path / "dense.json", provider="cpu")
    grey = np.random.default_rng(5).uniform(0, 255, (60, 44)).astype(np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(grey, (28, 28))[::4, ::4]
    expected = torch_predictor(model)(np.ascontiguousarray(windows.reshape(-1, 1, 28, 28)))
    assert np.allclose(loaded.lesion_grid(grey).ravel(), expected, atol=1e-5)


@pytest.mark.parametrize(
    ("out", "reason"),
    [
        ("patch.onnx", "one of the files being read"),  # the model converted
        ("link.onnx", "one of the files being read"),  # a symbolic link to the model
        ("dense.json", "must be a .onnx file"),  # was the model, then its card over it
        ("hard.onnx", "one of the files being read"),  # a hard link to the model
        ("card.onnx", "one of the files being read"),  # its card would be the input card
    ],
)
def test_conversion_refuses_to_write_over_its_inputs_or_a_non_onnx(tmp_path, capsys, out, reason):
    _patch_contract_model(tmp_path, _model(4))
    (tmp_path / "hard.onnx").hardlink_to(tmp_path / "patch.onnx")
    (tmp_path / "link.onnx").symlink_to(tmp_path / "patch.onnx")
    (tmp_path / "card.json").symlink_to(tmp_path / "patch.json")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    argv = ["--convert", str(tmp_path / "patch.json"), "--out", str(tmp_path / out)]
    assert export_lesion_main(argv) == 2
    err = capsys.readouterr().err
    assert reason in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize(
    ("card", "reason"),
    [("missing.json", "missing.json: No such file or directory"), ("bad.json", "bad.json: not the card")],
)
def test_conversion_of_a_missing_or_bad_card_is_a_message_and_exit_2(tmp_path, capsys, card, reason):
    (tmp_path / "bad.json").write_text('{"name": "x"}')
    argv = ["--convert", str(tmp_path / card), "--out", str(tmp_path / "dense.onnx")]
    assert export_lesion_main(argv) == 2
    assert reason in capsys.readouterr().err
    assert not (tmp_path / "dense.onnx").exists()


def test_augmentation_keeps_grey_range_and_patch_size_and_differs_per_patch():
    crops = torch.full((16, 1, CROP_PX, CROP_PX), 100.0)
    crops[:, :, :, CROP_PX // 2 :] = 200.0
    out = augment(crops, torch.Generator().manual_seed(0))
    assert out.shape == (16, 1, 28, 28)
    assert float(out.min()) >= 0 and float(out.max()) <= 255
    assert not torch.allclose(out[0], out[1])


def test_centre_patches_are_centred_on_the_labelled_pixel():
    crops = np.zeros((1, CROP_PX, CROP_PX), np.uint8)
    crops[0, CROP_PX // 2, CROP_PX // 2] = 255
    assert centre_patches(crops)[0, 0, 14, 14] == 255


def test_patch_labels_come_from_the_centre_pixel_and_leave_lesion_margins_out():
    lesion = np.zeros((60, 60), bool)
    lesion[20:40, 20:40] = True
    lung = np.zeros((60, 60), bool)
    lung[10:50, 10:50] = True
    grey = hu_to_lesion_grey(np.full((60, 60), -850.0))
    grey[12:16, 12:16] = hu_to_lesion_grey(np.float32(-100.0))  # a vessel in healthy lung
    rows, cols, kind = _label_grid(lesion, lung, grey, np.random.default_rng(0), stride=1)
    assert lesion[rows[kind == LESION], cols[kind == LESION]].all()
    healthy = kind == HEALTHY_LUNG
    assert lung[rows[healthy], cols[healthy]].all() and not lesion[rows[healthy], cols[healthy]].any()
    dense = kind == HEALTHY_DENSE
    assert dense.sum() == 16 and (rows[dense] >= 12).all() and (rows[dense] < 16).all()
    assert not lung[rows[kind == OTHER], cols[kind == OTHER]].any()
    margin = (rows == 19) & (cols == 30)  # 1 px outside the lesion: neither class
    assert not margin.any()


def test_crude_lung_region_holds_dark_lungs_and_enclosed_lesions_not_tissue():
    yy, xx = np.mgrid[:200, :200]
    grey = np.full((200, 200), 220.0)
    lungs = (((yy - 100) / 70.0) ** 2 + ((xx - 55) / 35.0) ** 2 < 1) | (
        ((yy - 100) / 70.0) ** 2 + ((xx - 145) / 35.0) ** 2 < 1
    )
    grey[lungs] = 45.0
    grey[(yy - 100) ** 2 + (xx - 55) ** 2 < 10**2] = 180.0  # a consolidation inside the left lung
    mask = crude_lung_mask(grey)
    assert mask[100, 55] and mask[100, 145] and not mask[100, 100] and not mask[5, 5]
    assert abs(int(mask.sum()) - int(lungs.sum())) < 0.05 * lungs.sum()


def test_the_card_states_the_epochs_and_seed_the_model_was_trained_with():
    provenance = training_record(epochs=3, seed=7).provenance
    assert provenance["optimiser"].endswith("batch 128, 3 epochs")  # was the recipe's 20 epochs
    assert provenance["epochs"] == 3 and provenance["seed"] == 7


def test_training_refuses_zero_epochs_and_a_non_onnx_output_before_training(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:  # zero epochs exported an untrained model
        train_lesion_main(["--epochs", "0", "--out", str(tmp_path / "x.onnx"), "--version", "9.0.0"])
    assert exit_info.value.code == 2 and "--epochs: must be at least 1" in capsys.readouterr().err
    assert train_lesion_main(["--out", str(tmp_path / "x.json"), "--version", "9.0.0"]) == 2
    assert "must be a .onnx file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # the shipped model's version was the default
        train_lesion_main(["--out", str(tmp_path / "x.onnx")])
    assert exit_info.value.code == 2 and "--version" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    shipped = REPO_ROOT / "models" / "lunglens-lesion.json"
    (tmp_path / "m.json").write_bytes(shipped.read_bytes())  # a model this training would replace
    version = json.loads(shipped.read_text())["version"]
    assert train_lesion_main(["--out", str(tmp_path / "m.onnx"), "--version", version]) == 2
    assert f"holds the model of version {version}" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]
