"""The worklist: what it reads from an analysis, and the CSV it writes."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import numpy as np
import pytest

from lunglens.analysis import Analysis, ModelRecord, ProviderRecord, SeriesRecord
from lunglens.batch.manifest import JobRecord
from lunglens.batch.progress import BatchSummary, SeriesCounts
from lunglens.batch.worklist import (
    COLUMNS,
    PROBLEMS,
    cell_text,
    neutralised,
    read_worklist,
    summarise,
    worklist_csv,
    write_worklist,
)
from lunglens.core.decision import DecisionParams, decide
from lunglens.core.selector import Selection, SelectorParams
from lunglens.quant.summary import percent_text


def _analysis(p_covid, kept) -> dict:
    p = np.array(p_covid, float)
    kept = np.array(kept, bool)
    n = len(p)
    return Analysis(
        series=SeriesRecord(
            key="1.2.3",
            description="",
            folder="",
            n_slices=n,
            rows=2,
            columns=2,
            pixel_spacing_mm=(1.0, 1.0),
            slice_spacing_mm=1.0,
            slice_thickness_mm=None,
            orientation="axial",
            source_format="dicom",
        ),
        selection=Selection(np.zeros(n, np.int64), 0.0, kept, SelectorParams()),
        decision=decide(p, kept, DecisionParams(patient_fraction=0.0)),
        model=ModelRecord("tiny", "0.0.1", "0" * 64, ("COVID-19", "normal"), 0, (2, 2)),
        provider=ProviderRecord("cpu", "CPUExecutionProvider", "CPU"),
        positions_mm=-np.arange(n, dtype=float),
        p_covid=p,
        cams=np.zeros((n, 2, 2), np.float16),
        timings_s={},
        versions={},
        created="2026-01-01T00:00:00+00:00",
    ).to_dict()


@pytest.mark.parametrize(
    ("p_covid", "kept", "verdict", "k", "n", "p_max", "p_mean"),
    [
        ([np.nan, 0.2, 0.9, np.nan], [False, True, True, False], "COVID-19", 1, 2, 0.9, 0.55),
        ([0.99, 0.1, 0.3, 0.99], [False, True, True, False], "normal", 0, 2, 0.3, 0.2),
        ([np.nan, np.nan], [False, False], "normal", 0, 0, None, None),
    ],
)
def test_summary_reads_the_kept_slices(p_covid, kept, verdict, k, n, p_max, p_mean):
    summary = summarise(_analysis(p_covid, kept))
    assert (summary["verdict"], summary["k_positive"], summary["n_kept"]) == (verdict, k, n)
    assert summary["max_p_covid"] == p_max and summary["mean_p_covid"] == p_mean
    assert summary["fraction"] == 0.0 and summary["model"] == "tiny 0.0.1"
    assert summary["affected_percent"] is None and summary["severity_score"] is None


def test_summary_reads_the_quantification_when_present():
    data = _analysis([0.2, 0.8], [True, True])
    data["quantification"] = {"total": {"affected_percent": 12.5}, "severity_score": 9, "method": "learned"}
    summary = summarise(data)
    assert summary["affected_percent"] == 12.5 and summary["severity_score"] == 9
    assert summary["lesion_method"] == "learned"


def test_lungs_scanned_says_part_when_the_lungs_run_off_the_series():
    """The selector keeping an end slice, or the quantification's lungs reaching one (recorded, or
    in a result written before it was recorded, its warning), makes the row read "part"."""
    whole = _analysis([0.1, 0.2, 0.8, 0.1], [False, True, True, False])
    assert summarise(whole)["lungs_scanned"] == "whole"
    assert summarise(_analysis([0.1, 0.2, 0.8], [False, True, True]))["lungs_scanned"] == "part"
    whole["quantification"] = {"total": {}, "partial_coverage": False}
    assert summarise(whole)["lungs_scanned"] == "whole"
    whole["quantification"] = {"total": {}, "partial_coverage": True}
    assert summarise(whole)["lungs_scanned"] == "part"
    whole["quantification"] = {
        "total": {},
        "warnings": ["the lungs run off the series at its first slice (97 %)"],
    }
    assert summarise(whole)["lungs_scanned"] == "part"


def test_csv_has_one_row_per_record_with_status_and_error():
    common = dict(
        series_key="k",
        folder="/data/p",
        study_date="20200601",
        series_number=2,
        description="chest",
        attempts=1,
        registered_at=0.0,
        started_at=0.0,
        finished_at=1.0,
        seconds=1.234,
    )
    done = JobRecord(
        job_id="A",
        patient="P1",
        state="done",
        error="",
        result="A.json",
        summary=summarise(_analysis([0.9], [True])),
        **common,
    )
    failed = JobRecord(
        job_id="B",
        patient="P2",
        state="failed",
        error="no slice could be decoded",
        result="",
        summary={},
        **common,
    )
    rows = list(csv.DictReader(worklist_csv([done, failed]).splitlines()))
    assert tuple(rows[0]) == COLUMNS
    assert (
        rows[0]["verdict"] == "COVID-19" and rows[0]["max_p_covid"] == "0.9" and rows[0]["seconds"] == "1.23"
    )
    assert rows[1]["status"] == "failed" and rows[1]["error"] == "no slice could be decoded"
    assert rows[1]["verdict"] == "" and rows[1]["affected_percent"] == ""


AFFECTED = {12.792932869069258: "12.8", 0.0320001: "0.032", 0.0: "0.0", 9.96: "10.0", 100.0: "100.0"}
"""Affected % as an analysis holds it, and as its worklist cell reads: one decimal, as the CLI, the
PDF and the viewer show it (`percent_text`); a share above 0 that would read 0.0 keeps two digits."""


def test_the_affected_percent_is_written_as_every_reader_shows_it_and_stays_a_number(tmp_path):
    records = [
        replace(hostile_record(), job_id=f"J{i}", result=f"J{i}.json", summary={"affected_percent": value})
        for i, value in enumerate(AFFECTED)
    ]
    write_worklist(tmp_path, records)
    rows = read_worklist(tmp_path)
    assert [row["affected_percent"] for row in rows] == list(AFFECTED.values())
    assert not any(row[PROBLEMS] for row in rows)
    assert [percent_text(float(row["affected_percent"])) for row in rows] == [
        percent_text(value) for value in AFFECTED
    ]


HOSTILE = {
    "patient": '=HYPERLINK("http://x","y")',
    "description": "@SUM(1+1)",
    "folder": "-2+3",
    "error": "\tcmd",
    "study_date": "'+1",  # already quoted before a formula: quoted once more, so it reads back as is
}


def hostile_record() -> JobRecord:
    """A finished job whose input text would start spreadsheet formulas, with a negative number."""
    return JobRecord(
        job_id="A",
        series_key="k",
        series_number=2,
        state="done",
        attempts=1,
        registered_at=0.0,
        started_at=0.0,
        finished_at=1.0,
        seconds=1.0,
        result="A.json",
        summary={"affected_percent": -1.5, "verdict": "normal"},
        patient=HOSTILE["patient"],
        description=HOSTILE["description"],
        folder=HOSTILE["folder"],
        error=HOSTILE["error"],
        study_date=HOSTILE["study_date"],
    )


def test_input_text_that_would_start_a_formula_is_neutralised_numbers_are_not():
    (row,) = csv.DictReader(worklist_csv([hostile_record()]).splitlines())
    assert row["patient"] == "'" + HOSTILE["patient"] and row["series_description"] == "'@SUM(1+1)"
    assert row["folder"] == "'-2+3" and row["error"] == "'\tcmd" and row["study_date"] == "''+1"
    assert row["affected_percent"] == "-1.5" and row["job_id"] == "A" and row["result"] == "A.json"
    for field, text in (("patient", "P1"), ("series_description", "'quoted'"), ("folder", "/data/p")):
        assert cell_text(neutralised(text)) == text
        assert neutralised(text) == text, field


def test_the_final_summary_warns_when_the_jobs_found_may_not_be_all():
    counts = SeriesCounts(pending=0, running=0, done=1, failed=0, unread=0)
    summary = BatchSummary(counts=counts, ran=1, already_done=0, adopted=0,
                           recovered=0, verdicts={}, model="m 1", seconds=1.0, studies_per_hour=3600.0,
                           caveats=("pacs: may be more",))  # fmt: skip
    assert summary.lines()[-1] == "       warning: pacs: may be more"
    assert not any("warning" in line for line in replace(summary, caveats=()).lines())


def test_the_final_summary_counts_the_folders_without_a_readable_series_apart_from_the_series():
    """Their failed rows are no series: 10 rows of which 2 such folders are 8 series."""
    counts = SeriesCounts(pending=1, running=0, done=5, failed=4, unread=2)
    summary = BatchSummary(counts=counts, ran=1, already_done=0, adopted=0,
                           recovered=0, verdicts={}, model="m 1", seconds=1.0, studies_per_hour=3600.0)  # fmt: skip
    assert (
        summary.lines()[0] == "batch: 8 series: 5 done, 2 failed, 1 left; 2 folders without a readable series"
    )
    assert (
        replace(summary, counts=replace(counts, failed=2, unread=0)).lines()[0]
        == "batch: 8 series: 5 done, 2 failed, 1 left"
    )


def _done_record(job_id: str, summary: dict) -> JobRecord:
    return JobRecord(
        job_id=job_id,
        series_key="k",
        folder="/data/p",
        patient=job_id,
        study_date="20200601",
        series_number=2,
        description="chest",
        state="done",
        attempts=1,
        error="",
        registered_at=0.0,
        started_at=0.0,
        finished_at=1.0,
        seconds=1.5,
        result=f"{job_id}.json",
        summary=summary,
    )


def test_rows_edited_into_impossible_values_are_marked_invalid_naming_the_file_and_line(tmp_path):
    from lunglens.batch.worklist import LINE, PROBLEMS, WORKLIST_NAME, invalid_rows_message, read_worklist

    summary = summarise(_analysis([0.2, 0.9, 0.8], [True, True, True]))  # COVID-19, k 2 of n 3
    records = [_done_record(name, summary) for name in ("GOOD", "KN", "P", "TIME", "WORD", "RULE", "SCAN")]
    text = worklist_csv(records).splitlines()
    edits = {
        "KN": (",2,3,", ",4,3,"),
        "P": (",0.9,", ",1.7,"),
        "TIME": (",1.50,", ",-3,"),
        "WORD": (",COVID-19,", ",maybe,"),
        "RULE": (",COVID-19,", ",normal,"),
        "SCAN": (",part,", ",banana,"),
    }
    for index, line in enumerate(text):
        name = line.split(",")[0]
        if name in edits:
            assert edits[name][0] in line
            text[index] = line.replace(*edits[name], 1)
    (tmp_path / WORKLIST_NAME).write_text("\n".join(text) + "\n", encoding="utf-8")
    rows = {row["job_id"]: row for row in read_worklist(tmp_path)}
    assert rows["GOOD"][PROBLEMS] == "" and rows["GOOD"][LINE] == 2
    assert rows["KN"][PROBLEMS] == "k_positive 4 is more than n_kept 3"
    assert rows["P"][PROBLEMS] == "max_p_covid 1.7 is above 1"
    assert rows["TIME"][PROBLEMS] == "seconds -3 is below 0"
    assert rows["WORD"][PROBLEMS] == "verdict 'maybe' is not one of COVID-19, normal"
    assert "verdict normal does not follow from k 2 of n 3 at fraction 0.0" in rows["RULE"][PROBLEMS]
    assert rows["SCAN"][PROBLEMS] == "lungs_scanned 'banana' is not one of whole, part"
    message = invalid_rows_message(tmp_path / WORKLIST_NAME, list(rows.values()))
    assert message.startswith(f"{tmp_path / WORKLIST_NAME}: 6 row(s) hold values no batch writes")
    assert "line 3: k_positive 4 is more than n_kept 3" in message
    assert invalid_rows_message(tmp_path / WORKLIST_NAME, [rows["GOOD"]]) is None


def test_a_verdict_at_the_exact_boundary_is_checked_on_the_fraction_as_written(tmp_path):
    from lunglens.batch.worklist import PROBLEMS, WORKLIST_NAME, read_worklist

    analysis = _analysis([0.9] * 63 + [0.1] * 27, [True] * 90)
    analysis["decision"]["params"]["patient_fraction"] = 0.7  # 63 > 0.7 × 90 = 63 is false: normal
    analysis["decision"]["verdict"] = "normal"
    summary = summarise(analysis)
    records = [_done_record(name, summary) for name in ("NORMAL", "COVID")]
    text = worklist_csv(records).splitlines()
    covid = next(i for i, line in enumerate(text) if line.startswith("COVID,"))
    text[covid] = text[covid].replace(",normal,", ",COVID-19,", 1)
    (tmp_path / WORKLIST_NAME).write_text("\n".join(text) + "\n", encoding="utf-8")
    rows = {row["job_id"]: row for row in read_worklist(tmp_path)}
    assert rows["NORMAL"][PROBLEMS] == ""
    assert "verdict COVID-19 does not follow from k 63 of n 90 at fraction 0.7" in rows["COVID"][PROBLEMS]


def test_a_row_is_named_by_its_first_line_and_its_operating_point_checked_as_the_decision_does(tmp_path):
    from lunglens.batch.worklist import LINE, PROBLEMS, WORKLIST_NAME, read_worklist

    summary = summarise(_analysis([0.2, 0.9, 0.8], [True, True, True]))
    written = worklist_csv([_done_record(name, summary) for name in ("A", "B", "C")])
    rows = list(csv.DictReader(io.StringIO(written)))
    rows[0]["series_description"] = "chest\nsecond line"  # one cell across two lines
    rows[1]["fraction"] = "1.5"
    rows[2]["slice_cutoff"] = "-0.1"
    with open(tmp_path / WORKLIST_NAME, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    read = read_worklist(tmp_path)
    assert [row[LINE] for row in read] == [2, 4, 5]
    assert read[0][PROBLEMS] == ""
    assert read[1][PROBLEMS] == "fraction 1.5: patient fraction must be within [0, 1], got 1.5"
    assert read[2][PROBLEMS] == "slice_cutoff -0.1: slice cut-off must be within [0, 1], got -0.1"


# --- hostile files: pipes, devices, undecodable text, result cells that point elsewhere ------
def test_a_worklist_that_is_a_named_pipe_is_refused_at_once_naming_the_file(tmp_path):
    import os

    from lunglens.batch.worklist import WORKLIST_NAME, read_worklist
    from tests.io.test_hostile_input import finishes

    os.mkfifo(tmp_path / WORKLIST_NAME)
    with pytest.raises(ValueError) as raised:
        finishes(read_worklist, tmp_path)
    assert str(raised.value) == f"{tmp_path / WORKLIST_NAME}: not a regular file (a named pipe)"


def test_a_worklist_that_is_not_utf8_text_is_named_with_the_reason(tmp_path):
    from lunglens.batch.worklist import WORKLIST_NAME, read_worklist

    (tmp_path / WORKLIST_NAME).write_bytes(b"job_id,folder\n\x85\x86,x\n")
    with pytest.raises(ValueError) as raised:
        read_worklist(tmp_path)
    assert str(raised.value) == (
        f"{tmp_path / WORKLIST_NAME}: not a LungLens worklist (not UTF-8 text (byte 0x85 at offset 14))"
    )


def test_a_worklist_saved_by_a_spreadsheet_with_a_byte_order_mark_reads_as_written(tmp_path):
    from lunglens.batch.worklist import WORKLIST_NAME, read_worklist

    (tmp_path / WORKLIST_NAME).write_text("\ufeffjob_id,folder,status,result\nA,/data/a,done,A.json\n")
    (row,) = read_worklist(tmp_path)
    assert row["job_id"] == "A" and row["result"] == "A.json" and not row["problems"]


def test_a_result_in_the_way_that_is_a_named_pipe_fails_its_job_at_once(tmp_path):
    """A task finding its job's result file in place reads it; a pipe there must not hang it."""
    import os

    from lunglens.atomic import WriteError
    from lunglens.batch import task

    os.mkfifo(tmp_path / "A.json")
    with pytest.raises(WriteError, match="a result is in the way and cannot be read .*named pipe"):
        task._finished(tmp_path / "A.json", None)


def test_a_missing_worklist_is_named(tmp_path):
    from lunglens.batch.worklist import WORKLIST_NAME, read_worklist

    with pytest.raises(ValueError, match="cannot be read \\(No such file or directory\\)") as raised:
        read_worklist(tmp_path)
    assert str(raised.value).startswith(f"{tmp_path / WORKLIST_NAME}: ")


@pytest.mark.parametrize(
    "result, problem",
    [
        ("/etc/hostname", "result '/etc/hostname' is not a file name inside the batch folder"),
        ("../A.json", "result '../A.json' is not a file name inside the batch folder"),
        ("sub\\A.json", "result 'sub\\\\A.json' is not a file name inside the batch folder"),
        (".A.json", "result '.A.json' is not a file name inside the batch folder"),
        ("B.json", "result 'B.json' is not the result file of job 'A' (A.json)"),
        ("A.pdf", "result 'A.pdf' is not the result file of job 'A' (A.json)"),
    ],
)
def test_a_result_cell_that_is_not_the_jobs_result_file_marks_the_row(tmp_path, result, problem):
    from lunglens.batch.worklist import PROBLEMS, WORKLIST_NAME, read_worklist, result_problem

    good = _done_record("A", {})
    assert result_problem({"job_id": "A", "result": good.result}) is None
    edited = replace(good, result=result)
    (tmp_path / WORKLIST_NAME).write_text(worklist_csv([edited]), encoding="utf-8")
    (row,) = read_worklist(tmp_path)
    assert row[PROBLEMS] == problem


def test_a_worklist_larger_than_the_limit_is_refused_naming_the_file(tmp_path, monkeypatch):
    from lunglens.batch import worklist

    (tmp_path / worklist.WORKLIST_NAME).write_text(worklist_csv([_done_record("A", {})]), encoding="utf-8")
    monkeypatch.setattr(worklist, "WORKLIST_LIMIT_BYTES", 2**20 // 4)
    assert len(worklist.read_worklist(tmp_path)) == 1
    monkeypatch.setattr(worklist, "WORKLIST_LIMIT_BYTES", 64)
    with pytest.raises(ValueError) as raised:
        worklist.read_worklist(tmp_path)
    assert (
        str(raised.value)
        == f"{tmp_path / worklist.WORKLIST_NAME}: not a LungLens worklist (larger than 64 bytes)"
    )
