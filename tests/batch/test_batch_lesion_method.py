"""The lesion method of a batch: chosen like `analyze`'s, pinned in the manifest with the other
settings, loaded once per worker when it is the learned map, refused at the start when its model
cannot load, and shown in the worklist."""

from __future__ import annotations

import argparse
import csv
import json

import pytest

from lunglens.analysis import DEFAULT_LESION_METHOD, AnalysisOptions
from lunglens.batch.manifest import MANIFEST_NAME, Manifest
from lunglens.batch.runner import BatchConfig, BatchError, run_batch
from lunglens.batch.worklist import WORKLIST_NAME
from lunglens.cli import batch as batch_command
from lunglens.inference import ModelError
from tests.batch.conftest import write_archive


def _config(source, out, card, method: str, workers: int = 1) -> BatchConfig:
    return BatchConfig(
        source=source,
        out=out,
        workers=workers,
        model=card,
        provider="cpu",
        options=AnalysisOptions(lesion_method=method),
    )


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ((), DEFAULT_LESION_METHOD),
        (("--lesion-method", "hu"), "hu_bands"),
        (("--lesion-method", "learned"), "learned"),
    ],
)
def test_the_command_passes_the_chosen_method_or_the_default(monkeypatch, tmp_path, extra, expected):
    seen = []
    monkeypatch.setattr(batch_command, "run_batch", lambda config: seen.append(config) or _Summary())
    parser = argparse.ArgumentParser()
    batch_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["batch", str(tmp_path / "src"), "--out", str(tmp_path / "out"), *extra])
    assert args.handler(args) == 0
    assert seen[0].options.lesion_method == expected


class _Summary:
    unavailable = 0

    def lines(self):
        return []


def test_the_manifest_pins_the_lesion_method(tiny_card, tmp_path):
    source = write_archive(tmp_path / "src", 1, bad=False)
    out = tmp_path / "out"
    assert run_batch(_config(source, out, tiny_card, "hu_bands"), progress=lambda *a: None).done == 1
    with pytest.raises(BatchError, match="lesion_method"):
        run_batch(_config(source, out, tiny_card, "learned"), progress=lambda *a: None)
    rows = list(csv.DictReader((out / WORKLIST_NAME).open()))
    assert [r["lesion_method"] for r in rows] == ["hu_bands"]


def test_a_lesion_model_that_cannot_load_stops_a_learned_batch_before_it_starts(
    tiny_card, tmp_path, monkeypatch
):
    from lunglens.inference import lesion_model

    def broken(path=None, provider="auto"):
        raise ModelError("/opt/lunglens/models/lunglens-lesion.json: the bundled lesion model is missing")

    monkeypatch.setattr(lesion_model, "load_lesion_model", broken)
    source = write_archive(tmp_path / "src", 1, bad=False)
    with pytest.raises(BatchError, match=r"lunglens-lesion\.json.*--lesion-method hu_bands"):
        run_batch(_config(source, tmp_path / "out", tiny_card, "learned"), progress=lambda *a: None)
    assert not (tmp_path / "out").exists()  # nothing written, no worker started


def test_a_learned_batch_loads_the_lesion_model_once_per_worker(tiny_card, tmp_path):
    """The real bundled lesion model in the Dask workers (the test stand-in does not reach them)."""
    source = write_archive(tmp_path / "src", 2, bad=False)
    out = tmp_path / "out"
    summary = run_batch(_config(source, out, tiny_card, "learned"), progress=lambda *a: None)
    assert (summary.done, summary.failed) == (2, 0)
    assert [seen["lesion_model_loads"] for seen in summary.workers.values()] == [1]
    assert sum(seen["jobs"] for seen in summary.workers.values()) == 2
    rows = list(csv.DictReader((out / WORKLIST_NAME).open()))
    assert [r["lesion_method"] for r in rows] == ["learned", "learned"]


def test_a_learned_result_is_adopted_only_when_made_with_this_lesion_model(tiny_card, tmp_path):
    """The lesion model's sha256 is read from the result (the real map in the Dask worker)."""
    source = write_archive(tmp_path / "src", 1, bad=False)
    out = tmp_path / "out"
    config = _config(source, out, tiny_card, "learned")
    assert run_batch(config, progress=lambda *a: None).done == 1
    (result,) = out.glob("*.json")
    made = json.loads(result.read_text())
    recorded = made["quantification"]["lesion_model"]
    other = json.loads(result.read_text())
    other["quantification"]["lesion_model"] = {**recorded, "sha256": "0" * 64}
    result.write_text(json.dumps(other))
    (out / MANIFEST_NAME).unlink()  # as if the manifest was lost
    refused = run_batch(config, progress=lambda *a: None)
    assert (refused.adopted, refused.ran, refused.failed) == (0, 0, 1)
    with Manifest(out) as manifest:
        (record,) = manifest.records()
    assert f"{result}: a result of this series made with other settings (lesion_model_sha256 differ)" in (
        record.error
    )
    del other["quantification"]["lesion_model"]  # as LungLens wrote it before it recorded the model
    result.write_text(json.dumps(other))
    (out / MANIFEST_NAME).unlink()
    unknown = run_batch(config, progress=lambda *a: None)
    assert (unknown.adopted, unknown.ran, unknown.failed) == (0, 0, 1)
    with Manifest(out) as manifest:
        (record,) = manifest.records()
    assert "made before LungLens recorded the lesion model of a learned map" in record.error
    result.write_text(json.dumps(made))
    (out / MANIFEST_NAME).unlink()
    same = run_batch(config, progress=lambda *a: None)
    assert (same.adopted, same.ran, same.done) == (1, 0, 1)
