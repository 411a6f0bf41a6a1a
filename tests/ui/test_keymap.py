"""The keyboard map in Help matches the keys the viewer really binds."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence

from lunglens.ui.cine import CineController, CineControls
from lunglens.ui.keymap import KEYMAP, bound_keys, keymap_html


def _shortcuts(widget) -> set[str]:
    keys = set()
    for action in widget.findChildren(QAction):
        keys.update(s.toString(QKeySequence.SequenceFormat.PortableText) for s in action.shortcuts())
    return keys - {""}


def test_every_key_the_main_window_binds_is_in_the_map(window):
    bound = _shortcuts(window)
    assert {"Ctrl+R", "H", "N", "Down", "PgUp", "Home", "1", "4"} <= bound
    assert bound <= bound_keys(), f"keys missing from the map: {sorted(bound - bound_keys())}"


def test_cine_keys_are_in_the_map(qtbot):
    from lunglens.ui.state import ViewerState

    controls = CineControls(CineController(ViewerState()))
    qtbot.addWidget(controls)
    assert set(controls.actions_by_key) <= bound_keys()


def test_map_has_no_key_twice_and_reads_as_a_table():
    keys = [key for b in KEYMAP for key in b.keys]
    assert len(keys) == len(set(keys))
    html = keymap_html()
    assert html.count("<tr>") == len(KEYMAP) + len({b.group for b in KEYMAP})
    assert "<b>Ctrl+R</b>" in html and "Run the analysis" in html


def _trigger(window, key: str) -> None:
    """Trigger the window's action bound to `key`, as the key press does."""
    (action,) = [
        a
        for a in window.findChildren(QAction)
        if key in {s.toString(QKeySequence.SequenceFormat.PortableText) for s in a.shortcuts()}
    ]
    action.trigger()


def test_keys_and_menu_items_do_what_the_map_says(p001_window, monkeypatch):
    """QAction.triggered(bool) hands `checked` to a slot's first default argument: every key must
    still reach its own measurement kind, window step, pan direction and plane."""
    w = p001_window
    for key, kind in (("D", "distance"), ("E", "ellipse"), ("F", "freehand")):
        _trigger(w, key)
        assert w.measurements.items[-1].kind == kind
    width = w.state.window.width
    _trigger(w, "Ctrl+Right")
    assert w.state.window.width > width
    x_range = w.view.box.viewRange()[0]
    _trigger(w, "Shift+Left")
    assert w.view.box.viewRange()[0] != x_range
    coronal, sagittal = w.coronal.plane_index, w.sagittal.plane_index
    _trigger(w, "Alt+Up")
    assert w.coronal.plane_index != coronal and w.sagittal.plane_index == sagittal
    opened = []
    monkeypatch.setattr(w.controller, "open_folder", opened.append)
    w.recent_menu.actions()[0].trigger()  # File > Recent: the folder, not the `checked` flag
    assert opened and opened[0].endswith("P001")
