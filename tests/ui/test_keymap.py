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
