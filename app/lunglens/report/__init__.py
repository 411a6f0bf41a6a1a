"""The PDF report (no Qt): what a radiologist signs off or files. `write_report` is the entry
point of the command line and the viewer's Export action."""

from lunglens.report.document import render_report
from lunglens.report.export import write_report

__all__ = ["render_report", "write_report"]
