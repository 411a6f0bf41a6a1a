""" "Open worklist…": a real batch (two phantom patients, a series without Hounsfield units that
fails, an MR series that fails too) is shown as a table that sorts numbers as numbers and
filters; double-clicking a finished row opens its series with the saved analysis, no model run."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from lunglens.analysis import Analysis, AnalysisOptions
from lunglens.batch.runner import BatchConfig, run_batch
from lunglens.ui.worklist_dialog import COLUMNS, WorklistDialog, read_worklist
from tests.batch.conftest import write_archive


@pytest.fixture(scope="module")
def batch_out(tmp_path_factory, tiny_model_card) -> Path:
    root = tmp_path_factory.mktemp("worklist")
    source = write_archive(root / "archive", 2)
    out = root / "out"
    run_batch(
        BatchConfig(
            source=source,
            out=out,
            workers=1,
            model=tiny_model_card,
            provider="cpu",
            options=AnalysisOptions(lesion_method="hu_bands"),
        )
    )
    return out


def _column(field: str) -> int:
    return next(i for i, c in enumerate(COLUMNS) if c.field == field)


@pytest.fixture
def dialog(qtbot, window, batch_out):
    shown = window.hospital.open_worklist(batch_out)
    qtbot.addWidget(shown)
    return shown


def test_numeric_columns_sort_as_numbers_empty_last(qtbot, tmp_path):
    rows = [
        {"patient": p, "status": s, "max_p_covid": v, "folder": "", "result": ""}
        for p, s, v in [
            ("A", "done", "9.5e-05"),
            ("B", "done", "0.7"),
            ("C", "failed", ""),
            ("D", "done", "10"),
        ]
    ]
    dialog = WorklistDialog(tmp_path, rows)
    qtbot.addWidget(dialog)
    from PySide6.QtCore import Qt

    dialog.table.sortByColumn(_column("max_p_covid"), Qt.SortOrder.DescendingOrder)
    assert [r["patient"] for r in dialog.shown_rows()] == ["D", "B", "A", "C"]  # as text: B, A, D
    assert dialog.proxy.index(2, _column("max_p_covid")).data() == "0.0001"  # 9.5e-05, 4 decimals
    dialog.table.sortByColumn(_column("max_p_covid"), Qt.SortOrder.AscendingOrder)
    assert [r["patient"] for r in dialog.shown_rows()] == ["A", "B", "D", "C"]  # empty last here too
    dialog.table.sortByColumn(_column("patient"), Qt.SortOrder.AscendingOrder)
    assert [r["patient"] for r in dialog.shown_rows()] == ["A", "B", "C", "D"]


def test_the_affected_percent_a_batch_writes_sorts_as_a_number_and_reads_as_elsewhere(qtbot, tmp_path):
    """The worklist writes the affected % to one decimal (a share under 0.05 % with two digits):
    the dialog still sorts it as a number and shows it as the CLI and the PDF do."""
    from PySide6.QtCore import Qt

    from lunglens.batch.worklist import write_worklist
    from tests.batch.test_worklist import hostile_record

    values = {"A": 12.792932869069258, "B": 0.0320001, "C": 9.96, "D": 100.0}
    write_worklist(
        tmp_path,
        [
            dataclasses.replace(
                hostile_record(), job_id=job, result=f"{job}.json", summary={"affected_percent": v}
            )
            for job, v in values.items()
        ],
    )
    dialog = WorklistDialog(tmp_path, read_worklist(tmp_path))
    qtbot.addWidget(dialog)
    dialog.table.sortByColumn(_column("affected_percent"), Qt.SortOrder.DescendingOrder)
    assert [r["job_id"] for r in dialog.shown_rows()] == ["D", "A", "C", "B"]  # as text: C, D, A, B
    shown = [dialog.proxy.index(i, _column("affected_percent")).data() for i in range(4)]
    assert shown == ["100.0", "12.8", "10.0", "<0.1"]


def test_the_filter_matches_the_text_shown_not_the_csv_text(qtbot, tmp_path):
    rows = [
        {"patient": p, "status": "done", "max_p_covid": v, "folder": "", "result": ""}
        for p, v in [("A", "1.0"), ("B", "0.25")]
    ]
    dialog = WorklistDialog(tmp_path, rows)
    qtbot.addWidget(dialog)
    assert dialog.proxy.index(0, _column("max_p_covid")).data() == "1.0000"
    dialog.filter_edit.setText("1.0000")
    assert [r["patient"] for r in dialog.shown_rows()] == ["A"]
    dialog.filter_edit.setText("0.2500")
    assert [r["patient"] for r in dialog.shown_rows()] == ["B"]


def test_the_batch_shows_sorts_and_filters(qtbot, dialog, batch_out):
    from PySide6.QtCore import Qt

    rows = read_worklist(batch_out)
    assert dialog.proxy.rowCount() == len(rows) == 4
    assert not any(r["problems"] for r in rows) and dialog.invalid_label.isHidden()  # as a batch wrote it
    dialog.table.sortByColumn(_column("mean_p_covid"), Qt.SortOrder.DescendingOrder)
    means = [float(r["mean_p_covid"]) if r["mean_p_covid"] else -math.inf for r in dialog.shown_rows()]
    assert means == sorted(means, reverse=True) and means[-1] == -math.inf  # failed jobs last
    assert len([m for m in means if m > -math.inf]) == 2
    dialog.failed_check.setChecked(True)
    failed = dialog.shown_rows()
    assert "BADTRUNC" in {r["patient"] for r in failed} and {r["status"] for r in failed} == {"failed"}
    assert f"{len(failed)} of 4" in dialog.count_label.text()
    dialog.failed_check.setChecked(False)
    dialog.filter_edit.setText("pat001")
    assert [r["patient"] for r in dialog.shown_rows()] == ["PAT001"]


def test_double_click_opens_the_saved_analysis_without_the_model(
    qtbot, window, dialog, batch_out, monkeypatch
):
    import lunglens.ui.controller as controller_module

    def no_model_run(*_args, **_kwargs):
        raise AssertionError("the model ran")

    monkeypatch.setattr(controller_module, "analyse", no_model_run)
    monkeypatch.setattr(controller_module, "requantify", no_model_run)  # nor the lesion model
    dialog.filter_edit.setText("PAT000")
    row = dialog.shown_rows()[0]
    saved = Analysis.from_json((batch_out / row["result"]).read_text())
    with qtbot.waitSignal(window.controller.analysisDone, timeout=60000):
        dialog.table.doubleClicked.emit(dialog.proxy.index(0, 0))
    shown = window.state.analysis
    assert shown is not None and shown.series.key == saved.series.key == window.state.series.ref.key
    assert json.loads(shown.to_json()) == json.loads(saved.to_json())
    assert window.analysis_panel.message.text().startswith(f"Saved analysis of {saved.created}")


def test_a_saved_analysis_opens_at_the_operating_point_it_was_decided_at(qtbot, window, dialog, batch_out):
    """The row's verdict, not one re-decided at the operating point the viewer had for another
    series; the reader can move it from there."""
    from lunglens.core.decision import DecisionParams

    panel = window.decision_panel
    panel.cutoff_spin.setValue(1.0)
    panel.fraction_spin.setValue(0.5)
    assert window.state.params == DecisionParams(1.0, 0.5)
    dialog.filter_edit.setText("PAT000")
    saved = Analysis.from_json((batch_out / dialog.shown_rows()[0]["result"]).read_text())
    assert saved.decision.params != window.state.params
    with qtbot.waitSignal(window.controller.analysisDone, timeout=60000):
        dialog.table.doubleClicked.emit(dialog.proxy.index(0, 0))
    shown = window.state.analysis.decision
    assert (shown.params, shown.k_positive, shown.verdict) == (
        saved.decision.params,
        saved.decision.k_positive,
        saved.decision.verdict,
    )
    assert window.state.params == saved.decision.params == panel.params()
    assert panel.cutoff.value() == round(saved.decision.params.slice_cutoff * 100)
    panel.cutoff_spin.setValue(0.9)
    assert window.state.analysis.decision.params.slice_cutoff == 0.9


def test_double_click_on_a_failed_row_says_why(qtbot, window, dialog):
    dialog.failed_check.setChecked(True)
    with qtbot.waitSignal(window.messageShown) as shown:
        dialog.table.doubleClicked.emit(dialog.proxy.index(0, 0))
    assert "no saved analysis" in shown.args[0] and "failed" in shown.args[0]
    assert window.state.analysis is None


def test_a_saved_analysis_of_another_length_is_not_shown(qtbot, window, batch_out):
    rows = [r for r in read_worklist(batch_out) if r["status"] == "done"]
    saved = Analysis.from_json((batch_out / rows[0]["result"]).read_text())
    shorter = Analysis.from_dict({**saved.to_dict(), "slices": saved.to_dict()["slices"][:-1]})
    with qtbot.waitSignal(window.messageShown, timeout=60000) as shown:
        window.controller.open_with_analysis(Path(rows[0]["folder"]), shorter)
    assert "run the analysis again" in shown.args[0]
    assert window.state.analysis is None


def test_a_folder_without_worklist_is_named(qtbot, window, tmp_path):
    with qtbot.waitSignal(window.messageShown) as shown:
        assert window.hospital.open_worklist(tmp_path) is None
    assert "worklist.csv" in shown.args[0]


@pytest.fixture(scope="module")
def pacs_batch_out(tmp_path_factory, tiny_model_card):
    """A batch over a real Orthanc holding one phantom patient: its output folder and the server."""
    from lunglens.batch.jobs import DicomwebQuery
    from lunglens.pacs import Connection
    from tests.pacs.conftest import USER, start_orthanc

    root = tmp_path_factory.mktemp("pacs-worklist")
    server = start_orthanc(root / "orthanc")
    try:
        server.upload(sorted(write_archive(root / "archive", 1, bad=False).rglob("*.dcm")))
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("LUNGLENS_DICOMWEB_PASSWORD", server.password)
            run_batch(
                BatchConfig(
                    source=None,
                    dicomweb=DicomwebQuery(Connection(url=server.dicomweb_url, user=USER)),
                    out=root / "out",
                    workers=1,
                    model=tiny_model_card,
                    provider="cpu",
                    options=AnalysisOptions(lesion_method="hu_bands"),
                )
            )
        yield root / "out", server
    finally:
        server.stop()


def test_a_row_of_a_batch_over_a_pacs_is_retrieved_then_opens_with_its_saved_analysis(
    qtbot, window, pacs_batch_out, monkeypatch
):
    import lunglens.ui.controller as controller_module
    from tests.pacs.conftest import USER

    out, server = pacs_batch_out
    monkeypatch.setenv("LUNGLENS_DICOMWEB_PASSWORD", server.password)
    monkeypatch.setattr(controller_module, "analyse", lambda *_a, **_k: pytest.fail("the model ran"))
    dialog = window.hospital.open_worklist(out)
    qtbot.addWidget(dialog)
    (row,) = dialog.shown_rows()
    assert row["status"] == "done" and row["folder"].startswith(f"{server.dicomweb_url}/studies/")
    saved = Analysis.from_json((out / row["result"]).read_text())

    # a server this viewer never connected to: the address comes from a file, so no credential
    # (not even the environment's token) is sent to it
    monkeypatch.setenv("LUNGLENS_DICOMWEB_TOKEN", "NOT-FOR-THIS-SERVER")
    with qtbot.waitSignal(window.messageShown, timeout=30000) as shown:
        dialog.table.doubleClicked.emit(dialog.proxy.index(0, 0))
    assert "has not connected to that server" in shown.args[0] and window.state.series is None
    monkeypatch.delenv("LUNGLENS_DICOMWEB_TOKEN")

    pacs = window.hospital.pacs
    connection = pacs.connect_to(server.dicomweb_url + "/", USER)  # as the PACS dialog remembers it
    pacs.last = None
    # the PACS dialog's retrieval and the row's run side by side: neither drops the other
    with qtbot.waitSignals([pacs.retrieved, window.controller.analysisDone], timeout=60000):
        pacs.retrieve(connection, saved.series.study_uid)
        dialog.table.doubleClicked.emit(dialog.proxy.index(0, 0))
    shown = window.state.analysis
    assert shown.series.key == saved.series.key == window.state.series.ref.key
    assert json.loads(shown.to_json()) == json.loads(saved.to_json())
    assert pacs.last.where == server.dicomweb_url  # results would go back there

    # opened again: from the folder retrieved before, nothing asked of the server
    import lunglens.ui.pacs_session as session_module

    monkeypatch.setattr(session_module, "retrieve_study", lambda *_a, **_k: pytest.fail("retrieved again"))
    with qtbot.waitSignal(window.controller.analysisDone, timeout=60000):
        dialog.table.doubleClicked.emit(dialog.proxy.index(0, 0))
    assert window.state.analysis.series.key == saved.series.key


def test_neutralised_cells_read_back_as_the_batch_had_them(tmp_path):
    from lunglens.batch.worklist import WORKLIST_NAME, worklist_csv
    from tests.batch.test_worklist import HOSTILE, hostile_record

    (tmp_path / WORKLIST_NAME).write_text(worklist_csv([hostile_record()]), encoding="utf-8")
    (row,) = read_worklist(tmp_path)
    assert row["patient"] == HOSTILE["patient"] and row["series_description"] == HOSTILE["description"]
    assert row["folder"] == HOSTILE["folder"] and row["error"] == HOSTILE["error"]
    assert row["study_date"] == HOSTILE["study_date"] and row["affected_percent"] == "-1.5"


def test_a_row_edited_into_impossible_values_is_marked_and_the_file_and_line_named(qtbot, window, tmp_path):
    from PySide6.QtCore import Qt

    from lunglens.batch.worklist import WORKLIST_NAME, worklist_csv
    from tests.batch.test_worklist import hostile_record

    good = dataclasses.replace(hostile_record(), summary={"verdict": "normal", "max_p_covid": 0.2})
    edited = dataclasses.replace(
        good, job_id="B", result="B.json", summary={"verdict": "normal", "max_p_covid": 1.7}
    )
    (tmp_path / WORKLIST_NAME).write_text(worklist_csv([good, edited]), encoding="utf-8")
    dialog = window.hospital.open_worklist(tmp_path)
    qtbot.addWidget(dialog)
    assert not dialog.invalid_label.isHidden()
    assert dialog.invalid_label.text().startswith(f"{tmp_path / WORKLIST_NAME}: 1 row(s)")
    assert "line 3: max_p_covid 1.7 is above 1" in dialog.invalid_label.text()
    marked = [dialog.model.index(row, _column("problems")).data() for row in range(dialog.model.rowCount())]
    assert marked == ["", "max_p_covid 1.7 is above 1"]
    assert dialog.model.index(1, 0).data(Qt.ItemDataRole.BackgroundRole) is not None
    assert dialog.model.index(0, 0).data(Qt.ItemDataRole.BackgroundRole) is None


def _fifo(path: Path) -> None:
    import os

    os.mkfifo(path)


def _link_to_dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


@pytest.mark.parametrize(
    "make, kind",
    [(_fifo, "a named pipe"), (_link_to_dev_zero, "a character device")],
    ids=["fifo", "dev-zero"],
)
def test_a_saved_analysis_that_is_a_pipe_or_a_device_is_refused_at_once(tmp_path, make, kind):
    from lunglens.ui.worklist_dialog import load_saved_analysis
    from tests.io.test_hostile_input import finishes

    make(tmp_path / "A.json")
    row = {"job_id": "A", "status": "done", "result": "A.json", "folder": "x"}
    with pytest.raises(ValueError) as raised:
        finishes(load_saved_analysis, tmp_path, row)
    assert str(raised.value) == (
        f"{tmp_path / 'A.json'}: cannot read the saved analysis (not a regular file ({kind}))"
    )


@pytest.mark.parametrize("result", ["/etc/hostname", "../A.json", "B.json"])
def test_a_result_cell_naming_another_file_is_never_opened(tmp_path, monkeypatch, result):
    import lunglens.ui.worklist_dialog as dialog_module

    monkeypatch.setattr(dialog_module, "read_text", lambda *_a: pytest.fail("a file was read"))
    row = {"job_id": "A", "status": "done", "result": result, "folder": "x"}
    with pytest.raises(ValueError, match="the saved analysis is not opened \\(result '") as raised:
        dialog_module.load_saved_analysis(tmp_path, row)
    assert str(raised.value).startswith(f"{tmp_path / 'worklist.csv'}: ")


def test_the_dicom_tags_of_a_slice_replaced_by_a_pipe_say_so_at_once(tmp_path):
    from lunglens.ui.dialogs import dicom_tags
    from tests.io.test_hostile_input import finishes

    _fifo(tmp_path / "IM0001.dcm")
    assert finishes(dicom_tags, tmp_path / "IM0001.dcm") == (
        f"{tmp_path / 'IM0001.dcm'}: cannot read the header (not a regular file (a named pipe))"
    )


def test_a_row_with_a_relative_folder_is_refused_naming_the_worklist_line(qtbot, window, tmp_path):
    """A batch of an earlier version given a relative SOURCE wrote relative folders: read from the
    viewer's working folder, they opened another folder or none ("bsrc/pa: no such folder")."""
    rows = [{"patient": "A", "status": "done", "folder": "bsrc/pa", "result": "A.json", "line": "2"}]
    shown = WorklistDialog(tmp_path, rows, window)
    qtbot.addWidget(shown)
    shown.problem.connect(window.show_message)
    shown.openRequested.connect(lambda *_: pytest.fail("a relative folder was opened"))
    with qtbot.waitSignal(window.messageShown) as told:
        shown.table.doubleClicked.emit(shown.proxy.index(0, 0))
    assert (
        f"{tmp_path / 'worklist.csv'}, line 2: the series folder bsrc/pa is a relative path" in told.args[0]
    )
    assert "Run the batch again" in told.args[0]
