"""Loading an ONNX model with its card and running it on the best execution provider.

Providers are tried in order TensorRT (only when asked for), CUDA, CPU. When a GPU provider
cannot start (no GPU, missing CUDA/cuDNN libraries) the session runs on the CPU and keeps the
reason, so the viewer and the report can say which provider ran and why."""

from __future__ import annotations

import contextlib
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lunglens.inference.card import ModelCard, sha256_of
from lunglens.inference.postprocess import output_problem
from lunglens.paths import demo_model_card
from lunglens.threads import thread_budget

PROVIDER_CHOICES = ("auto", "cpu", "cuda", "tensorrt")
CPU, CUDA, TENSORRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"

#: Slices per `run` call by provider: small on the CPU (cache-friendly, frequent progress),
#: larger on a GPU.
BATCH_SIZE = {CPU: 4, CUDA: 16, TENSORRT: 16}

#: Options per provider. cuDNN picks each convolution's algorithm by its heuristics instead of
#: benchmarking every algorithm (onnxruntime's default, EXHAUSTIVE) for each new input shape.
#: Measured on an H200 with the full-width classifier (tests/benchmarks/bench_overhead.py
#: --provider cuda): a run at a batch shape other than the last one costs 0.10 s more with
#: HEURISTIC and 0.61 s more with EXHAUSTIVE, while a warm batch of 16 runs in 15 ms either way;
#: the source of the fixed 1.4-2.2 s per patient measured earlier on an H100.
PROVIDER_OPTIONS = {CUDA: {"cudnn_conv_algo_search": "HEURISTIC"}}

_LABELS = {CPU: "CPU", CUDA: "GPU (CUDA)", TENSORRT: "GPU (TensorRT)"}


class ModelError(Exception):
    """A model that cannot be used; the message names the file and the reason."""


@dataclass(frozen=True)
class ProviderChoice:
    """Which execution provider runs the model, and why (empty `reason` when it is the one asked)."""

    requested: str
    used: str
    reason: str = ""

    @property
    def label(self) -> str:
        return _LABELS.get(self.used, self.used)

    def describe(self) -> str:
        return self.label + (f" — {self.reason}" if self.reason else "")


def bundled_model_card() -> Path:
    """The card of the demonstration model shipped with LungLens."""
    card = demo_model_card()
    if not card.exists():
        raise ModelError(f"{card}: the bundled demonstration model is missing from this installation")
    return card


def card_path_for(path: Path) -> Path:
    """A model is named by its .onnx or its .json card; the two sit side by side."""
    path = Path(path)
    return path.with_suffix(".json") if path.suffix.lower() == ".onnx" else path


def _wanted_providers(requested: str, available: list[str]) -> list[str]:
    if requested not in PROVIDER_CHOICES:
        raise ModelError(f"unknown provider {requested!r}; choose one of {', '.join(PROVIDER_CHOICES)}")
    wanted = {"tensorrt": [TENSORRT, CUDA], "cuda": [CUDA], "auto": [CUDA], "cpu": []}[requested]
    return [p for p in wanted if p in available] + [CPU]


def _preload_gpu_libraries() -> None:
    """Load CUDA/cuDNN from the NVIDIA wheels (the `gpu` extra) when they are installed."""
    import onnxruntime as ort

    if hasattr(ort, "preload_dlls") and importlib.util.find_spec("nvidia") is not None:
        # absent libraries are reported by the provider check, not here
        with _quiet(), contextlib.suppress(Exception):
            ort.preload_dlls()


#: Held while onnxruntime's logger is silenced: its severity is one setting for the process, so
#: threads starting sessions at once (the viewer loads both models in the background) take turns.
_QUIET_LOCK = threading.Lock()


@contextlib.contextmanager
def _quiet():
    """Silence onnxruntime's C++ logger while providers are tried or their libraries loaded (a
    provider that cannot start logs errors); the outcome is reported by us. The process's Python streams are left alone:
    replacing sys.stdout from a background thread swallowed what other threads printed, and two
    threads restoring it out of turn left it replaced for good."""
    import onnxruntime as ort

    with _QUIET_LOCK:
        ort.set_default_logger_severity(4)
        try:
            yield
        finally:
            ort.set_default_logger_severity(3)


def _session(onnx_path: Path, providers: list[str]):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4  # fatal only: a failed GPU provider is reported by us, not spammed
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    threads = thread_budget()
    if threads:
        options.intra_op_num_threads = threads
    configured = [(name, PROVIDER_OPTIONS[name]) if name in PROVIDER_OPTIONS else name for name in providers]
    with _quiet():  # no fallback of onnxruntime's own (it prints): start_verified_session falls back
        return ort.InferenceSession(
            str(onnx_path), sess_options=options, providers=configured, enable_fallback=0
        )


class Model:
    """An ONNX model honouring the contract (DESIGN.md section 2), checked against its card."""

    def __init__(self, card: ModelCard, onnx_path: Path, session, provider: ProviderChoice):
        self.card = card
        self.onnx_path = onnx_path
        self.session = session
        self.provider = provider
        self.batch_size = BATCH_SIZE.get(provider.used, 4)
        self.pads_batches = provider.used != CPU
        """Whether a batch smaller than `batch_size` runs padded to it (on a GPU; see `run`)."""

    def run(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 [n, 1, 512, 512] raw → (probabilities [n, 2], cam [n, 1, h, w]). Raises
        ModelError when the outputs are not what the contract promises (`output_problem`).

        On a GPU a batch smaller than `batch_size` (a patient's last one) runs padded with blank
        images to the full batch, whose outputs are dropped: the provider chooses its kernels
        again whenever the input shape changes, 0.10 s per patient on an H200 (PROVIDER_OPTIONS),
        where the padding costs about 1 ms per blank image (the full-width model). Slices are
        independent in the model, so each slice's outputs are those of its batch run unpadded, to
        rounding."""
        n = len(image)
        if self.pads_batches and n < self.batch_size:
            blank = np.zeros((self.batch_size - n, *image.shape[1:]), dtype=image.dtype)
            image = np.concatenate([image, blank])
        probabilities, cam = self.session.run(["probabilities", "cam"], {"image": image})
        problem = output_problem(probabilities, cam, len(image), self.card.cam_size)
        if problem:
            raise ModelError(f"{self.onnx_path}: {problem}; no result is given")
        return probabilities[:n], cam[:n]


def load_model(path: Path | None = None, provider: str = "auto") -> Model:
    """Load a model by its card or .onnx path (default: the bundled demonstration model),
    verify its sha256 and input/output shapes, and start it on the best provider."""
    card_path = card_path_for(path) if path is not None else bundled_model_card()
    card = read_card(card_path, ModelCard)
    onnx_path, session, choice = start_verified_session(card_path, card.onnx_file, card.sha256, provider)
    _check_signature(session, card, onnx_path)
    return Model(card, onnx_path, session, choice)


def read_card(card_path: Path, card_type):
    """The card at `card_path` read by `card_type.load` (a ModelCard or a lesion model card);
    raises ModelError naming the file when it is missing or not a valid card."""
    if not card_path.exists():
        raise ModelError(f"{card_path}: model card not found (every model needs its .json card beside it)")
    try:
        return card_type.load(card_path)
    except ValueError as exc:
        raise ModelError(str(exc)) from exc


def start_verified_session(
    card_path: Path, onnx_file: str, sha256: str, provider: str
) -> tuple[Path, object, ProviderChoice]:
    """The ONNX file a card names (`onnx_file`, beside the card), checked against the card's
    `sha256`, started on the best of the providers `provider` asks for (the CPU when a GPU
    provider fails). Returns (path, onnxruntime session, provider choice); raises ModelError
    naming the file."""
    onnx_path = card_path.parent / onnx_file
    if not onnx_path.exists():
        raise ModelError(f"{onnx_path}: model file named by {card_path.name} not found")
    try:
        digest = sha256_of(onnx_path)
    except OSError as exc:
        raise ModelError(f"{onnx_path}: model file named by {card_path.name} cannot be read ({exc})") from exc
    if digest != sha256:
        raise ModelError(
            f"{onnx_path}: sha256 {digest[:12]}… does not match its card ({sha256[:12]}…): "
            "the file is corrupted or not the model the card describes"
        )

    import onnxruntime as ort

    if provider != "cpu":
        _preload_gpu_libraries()
    available = ort.get_available_providers()
    wanted = _wanted_providers(provider, available)
    try:
        session = _session(onnx_path, wanted)
    except Exception as first:  # noqa: BLE001 - onnxruntime raises its own exception types
        if wanted == [CPU]:
            raise ModelError(f"{onnx_path}: not a loadable ONNX model ({first})") from first
        try:  # a GPU provider may be what failed: the CPU alone decides
            session = _session(onnx_path, [CPU])
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"{onnx_path}: not a loadable ONNX model ({exc})") from exc
    used = session.get_providers()[0]
    return onnx_path, session, ProviderChoice(provider, used, _fallback_reason(provider, used, available))


def _fallback_reason(requested: str, used: str, available: list[str]) -> str:
    """Why the provider `used` is not the one `requested` ("" when it is), given the providers
    onnxruntime has `available`."""
    if used == CPU and requested == "cpu":
        return ""
    if used == CPU:
        if requested == "tensorrt":
            return "neither TensorRT nor CUDA could start (no NVIDIA GPU, or their libraries missing)"
        if CUDA not in available:
            return "no GPU build of onnxruntime here (CUDA provider not available)"
        return "the CUDA provider could not start (no NVIDIA GPU, or CUDA/cuDNN libraries missing)"
    if requested == "tensorrt" and used != TENSORRT:
        return "TensorRT could not start; running on CUDA"
    return ""


def _check_signature(session, card: ModelCard, onnx_path: Path) -> None:
    inputs = {i.name: i.shape for i in session.get_inputs()}
    outputs = {o.name: o.shape for o in session.get_outputs()}
    size = card.input_size
    problems = []
    if list(inputs) != ["image"] or list(inputs["image"][1:]) != [1, size, size]:
        problems.append(f"input must be image [N, 1, {size}, {size}], found {inputs}")
    if "probabilities" not in outputs or outputs["probabilities"][1:] != [2]:
        problems.append(f"output probabilities must be [N, 2], found {outputs.get('probabilities')}")
    cam = outputs.get("cam")
    if cam is None or cam[1:] != [1, *card.cam_size]:
        problems.append(f"output cam must be [N, 1, {card.cam_size[0]}, {card.cam_size[1]}], found {cam}")
    if problems:
        raise ModelError(f"{onnx_path}: does not honour the model contract: " + "; ".join(problems))
