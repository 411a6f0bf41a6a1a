"""Keras HDF5 -> ONNX conversion (models/convert_keras.py).

Parity with Keras itself: the authors' model definition (../shared/tools/make_keras_reference.py) with
random, spread-out weights (`randomize_statistics`) is saved as Keras-2 HDF5, converted, and the ONNX
probabilities must equal Keras `predict` to 1e-4 on CT-like inputs. That needs tensorflow-cpu and
tf-keras (extra `keras-parity`): skipped without them, a failure under CI=true.
Without TensorFlow, the HDF5 layout, the mapping and the error messages are checked on small files
written here with h5py in the Keras-2 layout.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
h5py = pytest.importorskip("h5py")
ort = pytest.importorskip("onnxruntime")

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from lunglens.inference.card import ModelCard, sha256_of  # noqa: E402
from models.architecture import ResNet50V2FPN  # noqa: E402
from models.convert_keras import ConversionError, load_keras_hdf5, main  # noqa: E402

KERAS_PARITY_ATOL = 1e-4
SHARED_DATA = Path(
    os.environ.get("LUNGLENS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")
)  # as conftest
TOOLS = SHARED_DATA.parent / "tools"


def write_keras_layout(
    model: ResNet50V2FPN, path: Path, dense_names: list[str], drop: str = "", nested: bool = False
) -> None:
    """Save `model` as Keras-2 HDF5 weights (model_weights/<layer>/<layer>/<w>:0), HWIO conv kernels,
    [in, out] Dense kernels, Dense layers named `dense_names` (heads P3..P7, then the final layer).
    `nested`: the backbone's layers inside one group, as when ResNet50V2 is a nested model layer."""
    layers: list[tuple[str, dict[str, np.ndarray]]] = [("input_1", {})]
    for name, module in model.keras_layers().items():
        if isinstance(module, torch.nn.BatchNorm2d):
            w = {"gamma": module.weight, "beta": module.bias}
            w |= {"moving_mean": module.running_mean, "moving_variance": module.running_var}
        else:
            w = {"kernel": module.weight.permute(2, 3, 1, 0)}
            if module.bias is not None:
                w["bias"] = module.bias
        layers.append((name, w))
    for name, linear in zip(dense_names, model.dense_layers(), strict=True):
        layers.append((name, {"kernel": linear.weight.T, "bias": linear.bias}))
    with h5py.File(path, "w") as fh:
        root = fh.create_group("model_weights")
        kept = [(n, w) for n, w in layers if n != drop]
        groups = {n: "resnet50v2" if nested and n.startswith(("conv", "post")) else n for n, _ in kept}
        root.attrs["layer_names"] = [g.encode() for g in dict.fromkeys(groups.values())]
        weight_names: dict[str, list[bytes]] = {g: [] for g in groups.values()}
        for name, weights in kept:
            group = root.require_group(groups[name])
            for key, value in weights.items():
                group.create_dataset(f"{name}/{key}:0", data=value.detach().numpy())
                weight_names[groups[name]].append(f"{name}/{key}:0".encode())
        for group_name, names in weight_names.items():
            root[group_name].attrs["weight_names"] = names


@pytest.fixture(scope="module")
def small_model() -> ResNet50V2FPN:
    torch.manual_seed(1)
    model = ResNet50V2FPN(width=0.125).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0.0, 0.05)
                module.running_var.uniform_(0.8, 1.25)
    return model


SHUFFLED_DENSE_NAMES = ["dense_12", "dense_7", "dense_8", "dense_9", "dense_10", "dense_11"]


@pytest.mark.parametrize("nested", [False, True])
def test_reads_keras_layout_with_any_dense_names(small_model, tmp_path, nested):
    path = tmp_path / "small.hdf5"
    write_keras_layout(small_model, path, SHUFFLED_DENSE_NAMES, nested=nested)
    loaded = load_keras_hdf5(path)
    assert loaded.width == 0.125
    x = torch.rand(2, 1, 512, 512) * 1500
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), small_model(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("drop", "message"),
    [("conv3_block2_2_bn", "layer conv3_block2_2_bn missing"), ("dense_9", "no Dense layer with kernel")],
)
def test_missing_layer_is_named(small_model, tmp_path, drop, message):
    path = tmp_path / "broken.hdf5"
    write_keras_layout(small_model, path, SHUFFLED_DENSE_NAMES, drop=drop)
    with pytest.raises(ConversionError, match=message):
        load_keras_hdf5(path)


def test_mismatched_shape_is_named(small_model, tmp_path):
    path = tmp_path / "wrong.hdf5"
    write_keras_layout(small_model, path, SHUFFLED_DENSE_NAMES)
    with h5py.File(path, "r+") as fh:
        group = fh["model_weights/P5"]
        del group["P5/kernel:0"]
        group.create_dataset("P5/kernel:0", data=np.zeros((1, 1, 32, 32), np.float32))
    with pytest.raises(ConversionError, match=r"P5/kernel: shape \(1, 1, 32, 32\)"):
        load_keras_hdf5(path)


def test_command_line_reports_failure(tmp_path, capsys):
    bad = tmp_path / "not-keras.hdf5"
    with h5py.File(bad, "w") as fh:
        fh.create_group("something")
    assert main([str(bad), str(tmp_path / "out.onnx")]) == 2  # bad input, as the README says
    assert "not a Keras HDF5 model" in capsys.readouterr().err
    assert main([str(tmp_path / "absent.hdf5"), str(tmp_path / "out.onnx")]) == 2
    err = capsys.readouterr().err
    assert "absent.hdf5" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-keras.hdf5"]


def keras_reference_module():
    """make_keras_reference imported from the shared tools folder; skip (fail under CI) without TF."""
    missing = [m for m in ("tensorflow", "tf_keras") if importlib.util.find_spec(m) is None]
    script = TOOLS / "make_keras_reference.py"
    if not script.exists():
        missing.append(str(script))
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Keras parity test needs {', '.join(missing)} under CI")
        pytest.skip(f"Keras parity test needs {', '.join(missing)}")
    if str(TOOLS) not in sys.path:
        sys.path.insert(0, str(TOOLS))
    import make_keras_reference

    return make_keras_reference


def test_converted_onnx_equals_keras_predict(tmp_path):
    mk = keras_reference_module()
    keras_model = mk.build(seed=0)
    mk.randomize_statistics(keras_model, seed=0)  # the script's --spread
    source = tmp_path / "FPN-reference.hdf5"
    keras_model.save(source, save_format="h5")
    images = mk.ct_like_inputs(4, seed=5)  # [4, 512, 512, 1], raw scale
    expected = keras_model.predict(images, verbose=0)
    assert np.ptp(expected[:, 0]) > 0.05, "reference outputs too similar for a meaningful parity test"

    out = tmp_path / "converted.onnx"
    assert main([str(source), str(out), "--name", "fpn-reference"]) == 0
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    probs, cam = session.run(
        ["probabilities", "cam"], {"image": np.ascontiguousarray(images.transpose(0, 3, 1, 2))}
    )
    np.testing.assert_allclose(probs, expected, rtol=0, atol=KERAS_PARITY_ATOL)
    assert cam.shape == (4, 1, 32, 32) and (cam >= 0).all()

    card = ModelCard.load(out.with_suffix(".json"))
    assert card.sha256 == sha256_of(out)
    assert card.provenance["kind"] == "converted"
    assert card.provenance["source_sha256"] == sha256_of(source)
    assert card.class_names == ("COVID-19", "normal") and card.covid_index == 0


@pytest.mark.parametrize(
    ("out", "reason"), [("small.onnx", "one of the files being read"), ("out.hdf5", "must be a .onnx file")]
)
def test_command_line_never_writes_over_the_source(small_model, tmp_path, capsys, out, reason):
    source = tmp_path / "small.hdf5"
    write_keras_layout(small_model, source, SHUFFLED_DENSE_NAMES)
    (tmp_path / "small.onnx").symlink_to(source)  # a link to the source named as a model
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert main([str(source), str(tmp_path / out)]) == 2
    assert reason in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
