"""The demonstration model's training pieces (models/train_demo.py): the Grad-CAM attention loss, masks
that follow the augmentation, and a fine-tuning run started from the shipped model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from lunglens.inference.card import ModelCard, sha256_of  # noqa: E402
from models.train_demo import COVID, NORMAL, augment, cam_loss, main, share_outside  # noqa: E402

DEMO = REPO_ROOT / "models" / "lunglens-demo.onnx"


def square(side: int, top: int, left: int, size: int) -> torch.Tensor:
    """[side, side] float, 1 inside the square, 0 elsewhere."""
    m = torch.zeros(side, side)
    m[top : top + size, left : left + size] = 1
    return m


def test_share_outside_is_the_cam_mass_outside_the_region():
    region = square(64, 0, 0, 32)[None, None]  # the top-left quarter of a 64 x 64 image
    cam_inside = torch.zeros(1, 1, 4, 4)
    cam_inside[..., :2, :2] = 1.0  # 4 x 4 CAM cells of 16 px: the top-left 2 x 2 cells cover the quarter
    cam_split = torch.ones(1, 1, 4, 4)
    assert float(share_outside(cam_inside, region)) == pytest.approx(0.0, abs=1e-6)
    assert float(share_outside(cam_split, region)) == pytest.approx(0.75, abs=1e-6)
    assert float(share_outside(torch.zeros(1, 1, 4, 4), region)) == 0.0


def test_cam_loss_falls_as_the_cam_moves_into_the_lesion():
    lung, lesion = square(64, 0, 0, 48), square(64, 0, 0, 16)
    masks = torch.stack([lung, lesion])[None]  # one pair
    labels = torch.tensor([NORMAL, COVID])
    logits = torch.zeros(2, 1, 4, 4, requires_grad=True)  # the CAM as a softplus of free parameters
    opt = torch.optim.SGD([logits], lr=5.0)
    with torch.no_grad():
        start = float(cam_loss(torch.nn.functional.softplus(logits), labels, masks))
    for _ in range(50):
        loss = cam_loss(torch.nn.functional.softplus(logits), labels, masks)
        opt.zero_grad()
        loss.backward()
        opt.step()
    cam = torch.nn.functional.softplus(logits).detach()
    assert float(loss.detach()) < 0.3 * start
    assert int(cam[1, 0].argmax()) == 0  # the lesioned image's CAM peaks on the lesion's cell


def test_masks_follow_their_pair_through_the_augmentation():
    side = 64
    bright = square(side, 8, 8, 20)
    pair = torch.stack([bright * 1000 + 24, bright * 1200 + 24])[None, :, None]  # [1, 2, 1, S, S]
    masks = torch.stack([bright, bright])[None]  # [1, 2, S, S]
    gen = torch.Generator().manual_seed(3)
    images, moved = augment(pair, gen, masks, max_noise_hu=0.0)
    assert images.shape == (2, 1, side, side) and moved.shape == (1, 2, side, side)
    inside = moved[0, 0] > 0.5
    assert inside.sum() > 100  # the square survived the rotation, scale and shift
    for image in images[:, 0]:
        assert float(image[inside].mean()) > 5 * float(image[~inside].mean())


def test_fine_tuning_from_the_shipped_model_records_its_origin(covid_ct_md, tmp_path):
    """One training step from models/lunglens-demo.onnx (train_demo reads the same shared data folder as
    the covid_ct_md fixture, which fails in CI when it is missing)."""
    out = tmp_path / "tuned.onnx"
    args = ["--init", str(DEMO), "--cam-weight", "1", "--epochs", "1", "--steps-per-epoch", "1"]
    args += ["--pairs-per-batch", "1", "--variants", "1", "--threads", "2", "--out", str(out)]
    main(args)
    card = ModelCard.load(out.with_suffix(".json"))
    assert card.sha256 == sha256_of(out)
    origin = card.provenance["initialised_from"]
    assert origin["sha256"] == ModelCard.load(DEMO.with_suffix(".json")).sha256
    assert card.provenance["cam_loss_weight"] == 1.0
    assert "--init" in card.provenance["command"]
    record = card.metrics["training_history"][0]
    assert 0.0 <= record["validation_cam_lesioned"]["pointing_game_hit_rate"] <= 1.0
    assert json.loads(json.dumps(record)) == record
    assert np.isfinite(record["train_cam_loss"])


@pytest.mark.parametrize("out", ["m.onnx", "m.json"])
def test_fine_tuning_refuses_to_write_over_its_init_model_before_training(tmp_path, capsys, out):
    (tmp_path / "m.onnx").write_bytes(DEMO.read_bytes())
    (tmp_path / "m.json").write_bytes(DEMO.with_suffix(".json").read_bytes())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(SystemExit) as exit_info:  # each epoch's export replaced the --init model
        main(["--init", str(tmp_path / "m.onnx"), "--out", str(tmp_path / out)])
    assert exit_info.value.code == 2
    assert f"{tmp_path / out}: " in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
