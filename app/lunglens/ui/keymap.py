"""The keyboard and mouse map shown in Help, as data (no Qt): every key the viewer binds, in
Qt's portable key names, with what it does. A test checks it against the actions the main
window and the cine controls really bind, so the map cannot drift from the keys."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Binding:
    """Keys (Qt portable names such as "Ctrl+O", or a mouse gesture) and what they do."""

    keys: tuple[str, ...]
    action: str
    group: str


KEYMAP: tuple[Binding, ...] = (
    Binding(("Ctrl+O",), "Open a folder", "Files"),
    Binding(("Ctrl+E",), "Export the PDF report", "Files"),
    Binding(("Ctrl+Q",), "Quit", "Files"),
    Binding(("F1",), "This keyboard and mouse map", "Files"),
    Binding(("Down", "Right"), "Next slice (towards the feet)", "Slices"),
    Binding(("Up", "Left"), "Previous slice (towards the head)", "Slices"),
    Binding(("PgDown", "PgUp"), "Ten slices on / back", "Slices"),
    Binding(("Home", "End"), "First / last slice", "Slices"),
    Binding(("N",), "Next positive slice", "Slices"),
    Binding(("Space",), "Cine: play / pause", "Slices"),
    Binding(("[", "]"), "Cine: slower / faster", "Slices"),
    Binding(("1",), "Lung window (W 1500 / L -600)", "Display"),
    Binding(("2",), "Mediastinum window (W 400 / L 40)", "Display"),
    Binding(("3",), "Bone window (W 2500 / L 480)", "Display"),
    Binding(("4",), "The file's own window", "Display"),
    Binding(("Ctrl+Right", "Ctrl+Left"), "Window wider / narrower (as a left drag right / left)", "Display"),
    Binding(("Ctrl+Up", "Ctrl+Down"), "Level up / down (as a left drag up / down)", "Display"),
    Binding(("+", "-"), "Zoom in / out (as a right drag)", "Display"),
    Binding(
        ("Shift+Left", "Shift+Right", "Shift+Up", "Shift+Down"), "Pan the image (as a middle drag)", "Display"
    ),
    Binding(("R",), "Reset zoom, pan and window", "Display"),
    Binding(("V",), "Coronal and sagittal reformats on / off", "Display"),
    Binding(
        ("Alt+Up", "Alt+Down"),
        "Coronal plane up / down on the axial view (as a click on the sagittal view)",
        "Display",
    ),
    Binding(
        ("Alt+Left", "Alt+Right"),
        "Sagittal plane left / right on the axial view (as a click on the coronal view)",
        "Display",
    ),
    Binding(("H",), "Grad-CAM overlay on / off", "Display"),
    Binding(("O",), "Grad-CAM as outline (isolines) / filled", "Display"),
    Binding(("L",), "Lung contours on / off (quantification)", "Display"),
    Binding(("G",), "Lesion outlines on / off: ground glass, consolidation (quantification)", "Display"),
    Binding(("T",), "DICOM tags of this slice", "Display"),
    Binding(("D",), "Add a distance measurement (drag its ends)", "Measure"),
    Binding(("E",), "Add an elliptical region (mean, SD, min, max HU, area)", "Measure"),
    Binding(("F",), "Add a freehand region (drag its corners)", "Measure"),
    Binding(("Delete",), "Delete the measurement selected in the list", "Measure"),
    Binding(("Ctrl+R",), "Run the analysis", "Analysis"),
    Binding(("Esc",), "Cancel the analysis", "Analysis"),
    Binding(("Wheel",), "Next / previous slice (on a reformat: its plane)", "Mouse"),
    Binding(("Left drag",), "Window (left-right) and level (up-down), or pan (View menu)", "Mouse"),
    Binding(("Middle drag",), "Pan", "Mouse"),
    Binding(("Right drag",), "Zoom (100 px up = 2x)", "Mouse"),
    Binding(("Click on a reformat",), "Go to that slice and move the other reformat's plane there", "Mouse"),
)


def bound_keys() -> set[str]:
    """Every keyboard key of the map (mouse gestures left out)."""
    return {key for b in KEYMAP if b.group != "Mouse" for key in b.keys}


def keymap_html() -> str:
    """The map as an HTML table grouped by topic, for the Help dialog."""
    rows, group = [], None
    for binding in KEYMAP:
        if binding.group != group:
            group = binding.group
            rows.append(f"<tr><th colspan='2' align='left'>{escape(group)}</th></tr>")
        keys = " / ".join(f"<b>{escape(key)}</b>" for key in binding.keys)
        rows.append(f"<tr><td>{keys}</td><td>{escape(binding.action)}</td></tr>")
    return "<table cellspacing='4'>" + "".join(rows) + "</table>"
