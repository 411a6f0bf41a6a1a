"""The evaluation scripts in models/ given a missing file or a card of the wrong kind: one line on
stderr naming the file and the reason, exit code 2, no traceback and nothing written (models/cli.py)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("skimage")

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from models import evaluate_demo, evaluate_lesion  # noqa: E402

DEMO = REPO_ROOT / "models" / "lunglens-demo.onnx"


def _run(main, argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_evaluate_demo_names_a_missing_card_or_model(tmp_path, capsys):
    assert "m.json: not a valid model card" in _run(
        evaluate_demo.main, ["--model", str(tmp_path / "m.onnx")], capsys
    )
    shutil.copy(DEMO.with_suffix(".json"), tmp_path / "lunglens-demo.json")  # the card without its model
    err = _run(evaluate_demo.main, ["--model", str(tmp_path / "lunglens-demo.onnx")], capsys)
    assert "lunglens-demo.onnx: model file named by lunglens-demo.json not found" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lunglens-demo.json"]


def test_evaluate_demo_names_a_card_of_another_kind(tmp_path, capsys):
    shutil.copy(REPO_ROOT / "models" / "lunglens-lesion.json", tmp_path / "m.json")
    assert "m.json: not a valid model card (model card lacks" in _run(
        evaluate_demo.main, ["--model", str(tmp_path / "m.onnx")], capsys
    )


def test_evaluate_lesion_names_a_missing_card_before_measuring(tmp_path, capsys):
    card = tmp_path / "absent.json"
    err = _run(evaluate_lesion.main, ["--card", str(card), "--parts", "gap"], capsys)
    assert f"{card}: not a valid lesion model card" in err and "No such file" in err


def test_evaluate_lesion_says_the_classifier_card_is_not_a_lesion_model_card(capsys):
    card = DEMO.with_suffix(".json")
    err = _run(evaluate_lesion.main, ["--card", str(card), "--parts", "series"], capsys)
    assert f"{card}: not a valid lesion model card (a classifier model's card" in err
    assert "earlier patch contract" not in err  # it was called a format-1 lesion model


def test_evaluate_lesion_refuses_a_metrics_file_it_may_not_write_before_measuring(tmp_path, capsys):
    for name in ("lunglens-lesion.json", "lunglens-lesion.onnx"):
        shutil.copy(REPO_ROOT / "models" / name, tmp_path / name)
    card = tmp_path / "lunglens-lesion.json"
    before = card.read_bytes()
    err = _run(evaluate_lesion.main, ["--card", str(card), "--parts", "gap", "--json", str(card)], capsys)
    assert f"{card}: is one of the files being read" in err
    err = _run(evaluate_lesion.main, ["--card", str(card), "--parts", "gap", "--json", str(tmp_path)], capsys)
    assert f"{tmp_path}: " in err
    model = tmp_path / "lunglens-lesion.onnx"
    err = _run(evaluate_lesion.main, ["--card", str(card), "--parts", "gap", "--json", str(model)], capsys)
    assert f"{model}: is one of the files being read" in err
    cache = tmp_path / "patches.npz"
    cache.write_bytes(b"cache")
    argv = ["--card", str(card), "--parts", "gap", "--cache", str(cache), "--json", str(cache)]
    assert f"{cache}: is one of the files being read" in _run(evaluate_lesion.main, argv, capsys)
    assert card.read_bytes() == before and cache.read_bytes() == b"cache"
