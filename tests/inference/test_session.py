"""Loading models: hash and shape checks, provider choice and fallback, batched prediction."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from lunglens.inference import Cancelled, ModelError, classify, load_model
from lunglens.inference.card import ModelCard
from lunglens.inference.postprocess import cam_for_display
from lunglens.inference.preprocess import to_model_input
from tests.tiny_model import tiny_p_covid, write_tiny_model


@pytest.fixture
def tiny(tmp_path):
    return write_tiny_model(tmp_path / "models")


def _volume(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(-1024, 400, (n, 512, 512)).astype(np.int16) + (np.arange(n) * 20)[
        :, None, None
    ].astype(np.int16)


def test_tiny_model_loads_on_cpu_and_predicts(tiny):
    model = load_model(tiny, provider="cpu")
    assert model.provider.used == "CPUExecutionProvider" and model.provider.reason == ""
    hu = _volume()
    p, cams = classify(model, hu, np.arange(6))
    assert np.allclose(p, tiny_p_covid(hu), atol=1e-5)
    assert cams.dtype == np.float16 and cams.shape == (6, 32, 32) and (cams >= 0).all()


def test_auto_falls_back_to_cpu_and_says_why(tiny, monkeypatch):
    import onnxruntime

    # an onnxruntime without GPU providers, whatever this machine has
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    model = load_model(tiny, provider="auto")
    assert model.provider.used == "CPUExecutionProvider"
    assert "CUDA provider not available" in model.provider.reason
    assert "CPU" in model.provider.describe()


def test_the_cuda_provider_picks_convolution_algorithms_by_heuristics(tiny, monkeypatch):
    """cuDNN's exhaustive search would run again for every new input shape (a patient's partial
    last batch, each lung crop of the lesion model); the CUDA provider is asked for heuristics.
    Where CUDA cannot start (this machine), the session still falls back to the CPU."""
    import onnxruntime

    asked = []
    real_session = onnxruntime.InferenceSession

    def recording_session(path, sess_options=None, providers=None, **kwargs):
        asked.append(providers)
        if any(isinstance(p, tuple) and p[0] == "CUDAExecutionProvider" for p in providers):
            raise RuntimeError("no CUDA device")  # what onnxruntime raises without a GPU
        return real_session(path, sess_options=sess_options, providers=providers, **kwargs)

    monkeypatch.setattr(
        onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    monkeypatch.setattr(onnxruntime, "InferenceSession", recording_session)
    model = load_model(tiny, provider="cuda")
    assert asked[0] == [
        ("CUDAExecutionProvider", {"cudnn_conv_algo_search": "HEURISTIC"}),
        "CPUExecutionProvider",
    ]
    assert asked[1] == ["CPUExecutionProvider"]
    assert model.provider.used == "CPUExecutionProvider"
    assert "CUDA provider could not start" in model.provider.reason


def test_on_a_gpu_a_partial_batch_runs_padded_to_the_full_batch(tiny):
    """A GPU provider chooses its kernels again for each new input shape (0.10 s on an H200), so
    a patient's last, partial batch runs padded to the batch size; its slices' outputs are the
    unpadded ones. The session here is the CPU's, the model told it runs on CUDA."""
    from dataclasses import replace

    from lunglens.inference.session import CUDA, Model

    on_cpu = load_model(tiny, provider="cpu")
    shapes = []

    class RecordingSession:
        def run(self, names, feeds):
            shapes.append(feeds["image"].shape[0])
            return on_cpu.session.run(names, feeds)

    on_gpu = Model(on_cpu.card, on_cpu.onnx_path, RecordingSession(), replace(on_cpu.provider, used=CUDA))
    assert on_gpu.batch_size == 16 and on_gpu.pads_batches and not on_cpu.pads_batches
    hu = _volume(19)
    p_gpu, cams_gpu = classify(on_gpu, hu, np.arange(19))
    assert shapes == [16, 16]  # 16 slices, then 3 padded with 13 blank images
    p_cpu, cams_cpu = classify(on_cpu, hu, np.arange(19))
    np.testing.assert_allclose(p_gpu, p_cpu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cams_gpu.astype(np.float32), cams_cpu.astype(np.float32), rtol=2e-3, atol=1e-3)
    assert p_gpu.shape == (19,) and cams_gpu.shape == cams_cpu.shape


def test_starting_a_session_leaves_the_process_streams_alone(tiny, monkeypatch):
    """The viewer starts sessions in background threads: replacing sys.stdout / sys.stderr there
    swallowed what the other threads printed (and two threads restoring them out of turn left them
    replaced for good). onnxruntime's own fallback, which prints, is off: LungLens falls back."""
    import sys

    import onnxruntime

    streams = sys.stdout, sys.stderr
    seen = []
    real_session = onnxruntime.InferenceSession

    def watching_session(*args, **kwargs):
        seen.append(((sys.stdout, sys.stderr) == streams, kwargs.get("enable_fallback")))
        return real_session(*args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", watching_session)
    threads = [
        threading.Thread(target=load_model, args=(tiny,), kwargs={"provider": "cpu"}) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [(True, 0)] * 4
    assert (sys.stdout, sys.stderr) == streams


def test_onnx_path_finds_its_card(tiny):
    assert load_model(tiny.with_suffix(".onnx"), provider="cpu").card.name == "tiny"


def test_corrupted_model_is_refused(tiny):
    onnx_path = tiny.with_suffix(".onnx")
    data = bytearray(onnx_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx_path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256 .* does not match"):
        load_model(tiny, provider="cpu")


def test_model_whose_shapes_break_the_contract_is_refused(tiny):
    card = ModelCard.load(tiny)
    ModelCard(**{**card.__dict__, "cam_size": (16, 16)}).save(tiny)
    with pytest.raises(ModelError, match="does not honour the model contract"):
        load_model(tiny, provider="cpu")


def test_missing_and_invalid_cards(tmp_path, tiny):
    with pytest.raises(ModelError, match="model card not found"):
        load_model(tmp_path / "nothing.onnx")
    tiny.write_text("{not json")
    with pytest.raises(ModelError, match="not a valid model card"):
        load_model(tiny)


def test_unknown_provider(tiny):
    with pytest.raises(ModelError, match="unknown provider"):
        load_model(tiny, provider="quantum")


def test_progress_per_batch_and_cancel_within_one_batch(tiny):
    model = load_model(tiny, provider="cpu")
    model.batch_size = 2
    hu = _volume(7)
    calls = []
    classify(model, hu, np.arange(7), progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 7), (4, 7), (6, 7), (7, 7)]

    cancel = threading.Event()
    seen = []

    def progress(done, total):
        seen.append(done)
        cancel.set()  # asked during the first batch

    with pytest.raises(Cancelled):
        classify(model, hu, np.arange(7), progress=progress, cancel=cancel)
    assert seen == [2]  # stopped before the second batch


def test_preprocess_raw_scale_and_area_resize():
    hu = np.full((2, 256, 256), -1024, np.int16)
    hu[:, :128] = 976  # raw 2000
    x = to_model_input(hu)
    assert x.shape == (2, 1, 512, 512) and x.dtype == np.float32
    assert x[0, 0, 0, 0] == 2000 and x[0, 0, -1, 0] == 0
    assert np.isclose(x.mean(), 1000)
    assert to_model_input(np.full((1, 512, 512), -3000, np.int16)).min() == 0  # clipped at raw 0


def test_cam_for_display_is_normalised_and_resized():
    cam = np.zeros((32, 32), np.float16)
    cam[4, 4] = 3
    shown = cam_for_display(cam, (512, 512))
    assert shown.shape == (512, 512) and 0.9 < shown.max() <= 1.0
    assert cam_for_display(np.zeros((32, 32), np.float16), (64, 64)).max() == 0
