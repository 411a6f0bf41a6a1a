"""Draw the LungLens icon (two lungs with a heat spot on a dark rounded square) as PNGs of the
freedesktop sizes into resources/icons/. Run once after changing the design:

    .venv/bin/python packaging/make_icons.py
"""

from pathlib import Path

import cv2
import numpy as np

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
OUT = Path(__file__).resolve().parents[1] / "resources" / "icons"


def draw(size: int = 1024) -> np.ndarray:
    """BGRA icon at `size` pixels, drawn at 1024 and scaled."""
    s = size / 1024
    icon = np.zeros((size, size, 4), np.uint8)
    cv2.rectangle(icon, (int(40 * s), int(40 * s)), (int(984 * s), int(984 * s)), (48, 36, 28, 255), -1)
    colour = (235, 206, 160, 255)
    for cx, tilt in ((330, 12), (694, -12)):
        cv2.ellipse(icon, (int(cx * s), int(580 * s)), (int(150 * s), int(320 * s)), tilt, 0, 360, colour, -1)
    thick = max(1, int(44 * s))
    cv2.line(icon, (int(512 * s), int(110 * s)), (int(512 * s), int(380 * s)), colour, thick)
    for x in (400, 624):
        cv2.line(icon, (int(512 * s), int(370 * s)), (int(x * s), int(470 * s)), colour, thick)
    spot = np.zeros((size, size), np.float32)
    cv2.circle(spot, (int(720 * s), int(720 * s)), int(95 * s), 1.0, -1)
    spot = cv2.GaussianBlur(spot, (0, 0), 40 * s)
    heat = np.array((40, 120, 255), np.float32)
    alpha = (spot / max(spot.max(), 1e-6))[..., None] * 0.9
    icon[..., :3] = (icon[..., :3] * (1 - alpha) + heat * alpha).astype(np.uint8)
    return icon


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    master = draw()
    for size in SIZES:
        cv2.imwrite(
            str(OUT / f"lunglens-{size}.png"), cv2.resize(master, (size, size), interpolation=cv2.INTER_AREA)
        )


if __name__ == "__main__":
    main()
