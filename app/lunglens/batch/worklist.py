"""The worklist: `DIR/worklist.csv`, one row per series of the batch, rebuilt from the manifest.
Text from the input that would start a spreadsheet formula (=, +, -, @, tab, CR) is written
after a single quote (`neutralised`); readers undo it with `cell_text`.

`summarise` is the one place that reads an analysis result for the worklist (the Analysis JSON
as a dict): verdict, k of n kept slices positive, the largest and the mean P(COVID) over the
kept slices, and the quantification's total affected %, severity score and lesion method when
the analysis holds one. The verdict is the demonstration model's reading at the stated operating point, not a
diagnosis; the `model` column names the model that produced it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from lunglens.atomic import write_atomically
from lunglens.batch.manifest import JobRecord

WORKLIST_NAME = "worklist.csv"

COLUMNS = (
    "job_id",
    "patient",
    "study_date",
    "series_number",
    "series_description",
    "folder",
    "status",
    "verdict",
    "k_positive",
    "n_kept",
    "max_p_covid",
    "mean_p_covid",
    "fraction",
    "slice_cutoff",
    "affected_percent",
    "severity_score",
    "lesion_method",
    "model",
    "error",
    "seconds",
    "result",
)
"""`max_p_covid`/`mean_p_covid` run over the kept (classified) slices; `fraction` and
`slice_cutoff` are the operating point of the verdict (COVID when k > fraction x n);
`affected_percent` (total over both lungs) and `severity_score` (0-30, six-zone) are empty when
the analysis has no quantification, `lesion_method` names the method that found the lesions
("learned" or "hu_bands"); `seconds` is the job's time on its worker."""


TEXT_COLUMNS = ("job_id", "patient", "study_date", "series_description", "folder", "model", "error", "result")
"""The columns whose text comes from the input (headers, paths, model cards, messages naming
them): written neutralised (`neutralised`), so a spreadsheet never runs one as a formula."""

#: What makes a spreadsheet read a cell as a formula when it starts the cell.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _reads_as_formula(text: str) -> bool:
    """Whether `text`, after any leading single quotes, starts like a formula."""
    return text.lstrip("'").startswith(FORMULA_STARTS)


def neutralised(text: str) -> str:
    """`text` for a text cell of the CSV: prefixed with a single quote when it would start a
    formula (also when it already starts with quotes before one, so `cell_text` can undo it)."""
    return "'" + text if _reads_as_formula(text) else text


def cell_text(cell: str) -> str:
    """The text `neutralised` wrote as `cell` (the reverse of it)."""
    return cell[1:] if cell.startswith("'") and _reads_as_formula(cell[1:]) else cell


def summarise(analysis: dict) -> dict:
    """The worklist fields of one analysis, from its JSON dict (`Analysis.to_dict`)."""
    decision = analysis["decision"]
    kept_p = np.array(
        [s["p_covid"] for s in analysis["slices"] if s["kept"] and s["p_covid"] is not None], float
    )
    quantification = analysis.get("quantification") or {}
    total = quantification.get("total") or {}
    model = analysis.get("model", {})
    return {
        "verdict": decision["verdict"],
        "k_positive": decision["k_positive"],
        "n_kept": decision["n_kept"],
        "max_p_covid": round(float(kept_p.max()), 4) if kept_p.size else None,
        "mean_p_covid": round(float(kept_p.mean()), 4) if kept_p.size else None,
        "fraction": decision["params"]["patient_fraction"],
        "slice_cutoff": decision["params"]["slice_cutoff"],
        "affected_percent": total.get("affected_percent"),
        "severity_score": quantification.get("severity_score"),
        "lesion_method": quantification.get("method"),
        "model": f"{model.get('name', '?')} {model.get('version', '')}".strip(),
    }


def _row(record: JobRecord) -> dict:
    row = {
        "job_id": record.job_id,
        "patient": record.patient,
        "study_date": record.study_date,
        "series_number": "" if record.series_number is None else record.series_number,
        "series_description": record.description,
        "folder": record.folder,
        "status": record.state,
        "error": record.error,
        "seconds": "" if record.seconds is None else f"{record.seconds:.2f}",
        "result": record.result,
    }
    for key, value in record.summary.items():
        if key in COLUMNS:
            row[key] = "" if value is None else value
    return {key: neutralised(value) if key in TEXT_COLUMNS else value for key, value in row.items()}


def worklist_csv(records: list[JobRecord]) -> str:
    """The worklist as CSV text (header first, one row per record)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, restval="", lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow(_row(record))
    return out.getvalue()


def write_worklist(folder: Path, records: list[JobRecord]) -> Path:
    """Write `folder/worklist.csv` atomically; returns its path. Raises `WriteError`."""
    path = Path(folder) / WORKLIST_NAME
    write_atomically(path, worklist_csv(records).encode("utf-8"))
    return path
