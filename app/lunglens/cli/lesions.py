"""`lunglens lesions IMAGE... --out DIR`: lesion-probability maps of 8-bit lung-window images.

Each input (PNG, JPEG, BMP or TIFF, 8-bit; colour is converted to grey) is treated as a rendering
of one axial slice with the window `--window W,L` (HU; default the model's lung window W 1500 /
L -600, used as it is); another window is brought to the model's grey through HU
(`lunglens.quant.lesion_map.rendered_grey_to_lesion_grey`). Its pixel size is estimated from the
width of the body (an assumed thorax width, see `lunglens.quant.lesion_map.estimate_pixel_mm`)
unless `--pixel-mm` gives it. There is no lung mask for such images: every pixel is mapped; the
model was trained with negatives from outside the lungs. Output: DIR/<stem>.png, 8-bit grey of the
input's size, 0 = no lesion, 255 = P(lesion) 1 (value = round(255 P)).

Bad files (unreadable, not an image, empty) are named on stderr and skipped. Outputs are written
atomically, never into a folder that holds an input and never into something that is not a regular file.
Exit codes: 0 every image mapped; 2 some input skipped or an output refused, or the model unusable
(the maps that could be made are written); 1 an internal failure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from lunglens.atomic import WriteError, destination_problem, write_atomically
from lunglens.cli.common import EXIT_BAD_INPUT, EXIT_OK


def add_parser(subparsers) -> None:
    """Register the `lesions` subcommand on the CLI's subparsers."""
    from lunglens.inference.session import PROVIDER_CHOICES
    from lunglens.quant.lesion_map import LESION_WINDOW, LesionMapParams

    stride = LesionMapParams().stride
    parser = subparsers.add_parser(
        "lesions",
        help="lesion-probability maps of 8-bit lung-window images (demonstration model)",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="8-bit grey lung-window images (PNG/JPEG)")
    parser.add_argument("--out", required=True, help="folder for the maps (created if absent)")
    parser.add_argument("--model", help="lesion model .onnx or .json card (default: the bundled one)")
    parser.add_argument("--pixel-mm", type=float, help="pixel size of every input in mm (default: estimated)")
    parser.add_argument(
        "--stride", type=int, default=stride, help=f"patch spacing in model pixels (default {stride})"
    )
    parser.add_argument(
        "--window",
        metavar="W,L",
        help="HU window the images were rendered with, width,level (default "
        f"{LESION_WINDOW.width:g},{LESION_WINDOW.level:g}: the model's lung window; e.g. 1240,-460 for the "
        "COVID-SemiSeg JPEGs)",
    )
    parser.add_argument("--provider", choices=PROVIDER_CHOICES, default="auto")
    parser.set_defaults(handler=run)


def _read_grey(path: Path) -> np.ndarray:
    """The image as uint8 grey; ValueError with the reason when it cannot be used."""
    import cv2

    if not path.is_file():
        raise ValueError("not a regular file" if path.exists() else "no such file")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror or exc})") from exc
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise ValueError("not a readable image (PNG, JPEG, BMP or TIFF)")
    if image.dtype != np.uint8:
        raise ValueError(f"{image.dtype} pixels: an 8-bit lung-window rendering is needed, not raw values")
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
    if image.ndim != 2 or min(image.shape) < 8:
        raise ValueError(f"an image of shape {image.shape} is not a 2-D slice of at least 8 x 8 pixels")
    return image


def parse_window(text: str | None):
    """`--window W,L` as a `Window` (the model's lung window when None); ValueError with the reason."""
    from lunglens.core.windowing import Window
    from lunglens.quant.lesion_map import LESION_WINDOW

    if text is None:
        return LESION_WINDOW
    parts = text.split(",")
    try:
        width, level = (float(v) for v in parts)
    except ValueError:
        raise ValueError(f"--window {text!r} is not WIDTH,LEVEL in HU (e.g. 1240,-460)") from None
    if not (np.isfinite(width) and np.isfinite(level) and 1 <= width <= 10000 and -2000 <= level <= 4000):
        raise ValueError(f"--window {text!r}: width must be 1..10000 HU and level -2000..4000 HU")
    return Window("rendering", width, level)


def _png_bytes(grey: np.ndarray) -> bytes:
    import cv2

    ok, encoded = cv2.imencode(".png", grey)
    if not ok:
        raise ValueError("the map could not be encoded as PNG")
    return encoded.tobytes()


def _progress(done: int, total: int) -> None:
    if sys.stderr.isatty() and total:
        filled = int(30 * done / total)
        print(f"\rlesions [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}", end="", file=sys.stderr)
        if done == total:
            print(file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from lunglens.inference.lesion_model import load_lesion_model
    from lunglens.inference.session import ModelError
    from lunglens.quant.lesion_map import (
        PIXEL_MM_RANGE,
        LesionMapParams,
        grey_lesion_map,
        rendered_grey_to_lesion_grey,
    )

    low, high = PIXEL_MM_RANGE
    if args.pixel_mm is not None and not low <= args.pixel_mm <= high:
        print(
            f"lunglens: --pixel-mm {args.pixel_mm} is not a pixel size in mm ({low:g}-{high:g})",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    if args.stride < 1:
        print("lunglens: --stride must be at least 1", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        window = parse_window(args.window)
    except ValueError as exc:
        print(f"lunglens: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    out = Path(args.out)
    if out.resolve() in {Path(p).resolve().parent for p in args.images}:
        print(
            f"lunglens: {out}: holds input images; LungLens never writes into the folders it reads",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"lunglens: {out}: cannot create the output folder ({exc.strerror or exc})", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not out.is_dir():
        print(f"lunglens: {out}: not a folder", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        model = load_lesion_model(Path(args.model) if args.model else None, provider=args.provider)
    except ModelError as exc:
        print(f"lunglens: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.stride > model.card.patch_px:
        print(
            f"lunglens: --stride {args.stride} is larger than the model's patch ({model.card.patch_px} px): "
            "pixels between patches would have no probability",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    paths = [Path(p) for p in args.images]
    params = LesionMapParams(stride=args.stride)
    problems, written, seen_stems = 0, 0, set()
    for number, path in enumerate(paths, 1):
        target = out / f"{path.stem}.png"
        reason = destination_problem(target)
        if reason is None and target in seen_stems:
            reason = "an earlier input already wrote a map of this name"
        try:
            if reason is not None:
                raise WriteError(f"{target}: not written ({reason})")
            grey = rendered_grey_to_lesion_grey(_read_grey(path), window)
            prob = grey_lesion_map(model, grey, pixel_mm=args.pixel_mm, params=params)
            write_atomically(target, _png_bytes(np.rint(255 * prob).astype(np.uint8)))
            seen_stems.add(target)
            written += 1
        except ValueError as exc:
            problems += 1
            print(f"\nlunglens: {path}: skipped: {exc}", file=sys.stderr)
        except WriteError as exc:
            problems += 1
            print(f"\nlunglens: {exc}", file=sys.stderr)
        _progress(number, len(paths))
    print(
        f"{written} of {len(paths)} map(s) written to {out} ({model.card.name} {model.card.version}, "
        f"{model.provider.describe()}; images read as rendered at W {window.width:g} / L {window.level:g} HU; "
        "demonstration model, not for diagnosis)"
        + (f"; {problems} problem(s) reported above" if problems else "")
    )
    return EXIT_OK if problems == 0 else EXIT_BAD_INPUT
