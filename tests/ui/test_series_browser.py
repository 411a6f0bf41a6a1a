"""The series browser as a tree patient → study → series on COVID-19-NY-SBU (five patients,
two time points each): patients apart, studies by date, only series rows choose a series."""

from __future__ import annotations

import numpy as np

from lunglens.io import discover
from lunglens.ui.series_browser import SeriesBrowser


def test_tree_shows_patients_studies_by_date_and_series(qtbot, shared_data):
    browser = SeriesBrowser()
    qtbot.addWidget(browser)
    found = discover(shared_data / "covid19-ny-sbu")
    browser.set_discovery(found)
    patients = [browser.topLevelItem(i) for i in range(browser.topLevelItemCount())]
    assert [p.text(0).split("\n")[0] for p in patients] == [
        "A002304",
        "A027284",
        "A046441",
        "A048383",
        "A056642",
    ]
    assert all(p.text(0).endswith("2 studies, 6 series") for p in patients)
    studies = [patients[1].child(i).text(0) for i in range(patients[1].childCount())]
    assert studies == [
        "1900-09-25 01:50 · CT ABD AND PELVIS WO IV CONT",
        "1900-12-31 22:03 · CT ABD AND PELVIS WO IV CONT",
    ]
    first_series = patients[0].child(0).child(0)
    assert first_series.text(0).startswith("#2 CHEST 2.5 MM/ABD.PEL 2.5MM\n1 slice · 2.5 mm · axial")
    assert len(browser.series_items()) == len(found.series) == 30

    chosen = []
    browser.seriesChosen.connect(chosen.append)
    browser.setCurrentItem(patients[0])
    browser.setCurrentItem(patients[0].child(1))
    assert chosen == []
    browser.setCurrentItem(patients[4].child(1).child(0))
    assert chosen[0].patient_id == "A056642" and chosen[0].series_number == 2
    browser.select(found.series[0])
    assert found.series[0].summary() in browser.currentItem().toolTip(0)
    assert len(chosen) == 1  # select() does not emit
    browser.set_thumbnail(found.series[0].key, np.zeros((16, 16), np.uint8))
    assert not browser.currentItem().icon(0).isNull()
