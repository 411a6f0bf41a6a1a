"""The worklist: `DIR/worklist.csv`, one row per series of the batch, rebuilt from the manifest.
Text from the input that would start a spreadsheet formula (=, +, -, @, tab, CR) is written
after a single quote (`neutralised`); readers undo it with `cell_text`.

`summarise` is the one place that reads an analysis result for the worklist (the Analysis JSON
as a dict): verdict, k of n kept slices positive, the largest and the mean P(COVID) over the
kept slices, and the quantification's total affected %, severity score and lesion method when
the analysis holds one. The verdict is the model's reading at the stated operating point, not a
diagnosis; the `model` column names the model that produced it.

`read_worklist` reads the file back for the viewer and checks every row (`row_problems`): a value
no batch writes (k above n, a probability of 1.7, a negative time, an unknown verdict, a `result`
that is not the job's result file in the batch folder: a file edited by hand) marks its row
invalid, and `invalid_rows_message` names the file and the lines. Both the worklist and a row's
result are read as regular files of bounded size only (a named pipe or a device is refused, never
waited on)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from lunglens.analysis.lesion_methods import LESION_METHODS
from lunglens.atomic import write_atomically
from lunglens.batch.jobs import result_name
from lunglens.batch.manifest import STATES, JobRecord
from lunglens.core.decision import COVID_VERDICT, NORMAL_VERDICT, VERDICTS, DecisionParams, patient_covid
from lunglens.core.selector import run_off_ends
from lunglens.io.files import NotRegularFileError, read_text
from lunglens.quant import ZONE_NAMES, SeverityScale
from lunglens.quant.result import covers_part_of_lungs
from lunglens.quant.summary import percent_value

WORKLIST_NAME = "worklist.csv"
#: The largest worklist read back (bytes): some 100 000 rows; no batch writes a larger one.
WORKLIST_LIMIT_BYTES = 64 << 20
#: The largest result (Analysis JSON) a row opens (bytes); a batch writes some 0.1-0.3 MiB.
RESULT_LIMIT_BYTES = 64 << 20

#: The largest severity score a worklist row can hold (six zones of 0-5).
SEVERITY_SCORE_MAX = SeverityScale().score_max(len(ZONE_NAMES))

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
    "lungs_scanned",
    "lesion_method",
    "model",
    "error",
    "seconds",
    "result",
)
"""`max_p_covid`/`mean_p_covid` run over the kept (classified) slices; `fraction` and
`slice_cutoff` are the operating point of the verdict (COVID when k > fraction x n);
`affected_percent` (total over both lungs, to one decimal as every reader shows it:
`quant.summary.percent_value`) and `severity_score` (0-30, six-zone) are empty when
the analysis has no quantification, `lungs_scanned` is "part" when the lungs run off the series
(the selector kept its first or last slice, or the quantification's lungs reach them: the verdict,
the affected % and the score read the part scanned) and "whole" otherwise, `lesion_method` names the method that found the lesions
("learned" or "hu_bands"); `seconds` is the job's time on its worker."""


LUNGS_SCANNED = ("whole", "part")
"""The values of `lungs_scanned`: whether the lungs lie within the series or run off it."""

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
    kept = [s["kept"] for s in analysis["slices"]]
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
        "lungs_scanned": LUNGS_SCANNED[bool(run_off_ends(kept)) or covers_part_of_lungs(quantification)],
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
    if row.get("affected_percent", "") != "":  # as the CLI, the PDF and the viewer show it
        row["affected_percent"] = percent_value(row["affected_percent"])
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


LINE, PROBLEMS = "line", "problems"
"""The keys `read_worklist` adds to each row: the row's line in the file (the header is line 1)
and what is impossible in it ("" when nothing)."""

_RANGES = {
    "k_positive": (0, None, True),
    "n_kept": (0, None, True),
    "max_p_covid": (0, 1, False),
    "mean_p_covid": (0, 1, False),
    "fraction": (-math.inf, None, False),  # its range is DecisionParams'
    "slice_cutoff": (-math.inf, None, False),
    "affected_percent": (0, 100, False),
    "severity_score": (0, SEVERITY_SCORE_MAX, True),
    "seconds": (0, None, False),
}
"""The numeric columns: (least, largest or None, whole number) of a value a batch writes (the
operating point's are checked by `DecisionParams`)."""


def _checked_numbers(row: dict, problems: list[str]) -> dict[str, float]:
    """The numeric cells of `row` that hold possible values; a problem for each other non-empty one."""
    numbers = {}
    for field, (low, high, whole) in _RANGES.items():
        text = (row.get(field) or "").strip()
        if not text:
            continue
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            problems.append(f"{field} {text!r} is not a number")
        elif whole and not value.is_integer():
            problems.append(f"{field} {text} is not a whole number")
        elif value < low:
            problems.append(f"{field} {text} is below {low}")
        elif high is not None and value > high:
            problems.append(f"{field} {text} is above {high}")
        else:
            numbers[field] = value
    return numbers


def result_problem(row: dict) -> str | None:
    """Why the `result` cell of a worklist row is not the file a batch writes for the row's job
    (`result_name` of its job id, a bare file name inside the batch folder: no path, no hidden
    name), or None when it is or is empty. A row with a problem here is never opened."""
    result = row.get("result") or ""
    if not result:
        return None
    if any(c in result for c in "/\\\0") or result.startswith("."):
        return f"result {result!r} is not a file name inside the batch folder"
    expected = result_name(row.get("job_id") or "")
    if result != expected:
        return f"result {result!r} is not the result file of job {row.get('job_id')!r} ({expected})"
    return None


def row_problems(row: dict) -> list[str]:
    """What no batch writes in one worklist row as read back (cells as text, empty = not given):
    an unknown status, verdict, lesion method or lungs scanned; a number outside its range (`_RANGES`); k above
    n, a mean P(COVID) above the largest; a verdict that the patient rule does not give for the
    row's k, n and fraction; a result that is not the job's (`result_problem`)."""
    problems = [problem] if (problem := result_problem(row)) else []
    for field, allowed in (
        ("status", STATES),
        ("verdict", VERDICTS),
        ("lesion_method", LESION_METHODS),
        ("lungs_scanned", LUNGS_SCANNED),
    ):
        text = row.get(field) or ""
        if (text or field == "status") and text not in allowed:
            problems.append(f"{field} {text!r} is not one of {', '.join(allowed)}")
    numbers = _checked_numbers(row, problems)
    for field, keyword in (("fraction", "patient_fraction"), ("slice_cutoff", "slice_cutoff")):
        if field in numbers:
            try:
                DecisionParams(**{keyword: numbers[field]})
            except ValueError as exc:
                problems.append(f"{field} {row[field]}: {exc}")
    for lower, upper in (("k_positive", "n_kept"), ("mean_p_covid", "max_p_covid")):
        if lower in numbers and upper in numbers and numbers[lower] > numbers[upper]:
            problems.append(f"{lower} {row[lower]} is more than {upper} {row[upper]}")
    if (
        row.get("verdict") in VERDICTS
        and not problems
        and {"k_positive", "n_kept", "fraction"} <= set(numbers)
    ):
        covid = patient_covid(numbers["k_positive"], numbers["n_kept"], numbers["fraction"])
        if (row["verdict"] == COVID_VERDICT) != covid:
            rule = COVID_VERDICT if covid else NORMAL_VERDICT
            problems.append(
                f"verdict {row['verdict']} does not follow from k {row['k_positive']} of n {row['n_kept']} "
                f"at fraction {row['fraction']} (the rule gives {rule})"
            )
    return problems


def read_worklist(folder: Path) -> list[dict]:
    """The rows of `folder/worklist.csv`: dicts keyed by its header (text cells as the batch had
    them, before `neutralised`) plus `LINE` and `PROBLEMS` (`row_problems`, joined). Raises
    ValueError naming the file when it cannot be read (missing, not a regular file, larger than
    WORKLIST_LIMIT_BYTES, not UTF-8) or is not a worklist."""
    path = Path(folder) / WORKLIST_NAME
    try:
        text = read_text(path, WORKLIST_LIMIT_BYTES)
    except NotRegularFileError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    except ValueError as exc:
        raise ValueError(f"{path}: not a LungLens worklist ({exc})") from exc
    text = text.removeprefix("\ufeff")  # a byte-order mark, as a spreadsheet saving UTF-8 writes one
    with io.StringIO(text, newline="") as handle:
        reader = csv.DictReader(handle, restval="")
        try:
            missing = {"folder", "status", "result"} - set(reader.fieldnames or ())
            if missing:
                raise ValueError(f"{path}: not a LungLens worklist (no {', '.join(sorted(missing))} column)")
            rows, line = [], reader.line_num + 1  # a record's first line (a cell may hold line breaks)
            for cells in reader:
                extra = cells.pop(None, None)  # cells beyond the header's
                row = {k: cell_text(v) if k in TEXT_COLUMNS else v for k, v in cells.items()}
                problems = row_problems(row) + (
                    [f"{len(extra)} cell(s) more than the header"] if extra else []
                )
                rows.append({**row, LINE: line, PROBLEMS: "; ".join(problems)})
                line = reader.line_num + 1
        except csv.Error as exc:
            raise ValueError(f"{path}, line {reader.line_num}: not a readable CSV ({exc})") from exc
    return rows


def invalid_rows_message(path: Path, rows: list[dict], shown: int = 3) -> str | None:
    """A sentence naming `path` and the lines of `rows` marked invalid (the first `shown` with
    their problems), or None when every row is possible."""
    invalid = [row for row in rows if row.get(PROBLEMS)]
    if not invalid:
        return None
    listed = "; ".join(f"line {row[LINE]}: {row[PROBLEMS]}" for row in invalid[:shown])
    more = "; ..." if len(invalid) > shown else ""
    return (
        f"{path}: {len(invalid)} row(s) hold values no batch writes (the file was edited?), marked "
        f"invalid: {listed}{more}"
    )
