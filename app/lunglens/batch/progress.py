"""Progress of a batch on stderr, and the final summary.

On a terminal the progress is one line redrawn in place (a bar); otherwise (a log file, a pipe)
it is one line per finished job, so logs stay readable."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TextIO

BAR_WIDTH = 30


@dataclass(frozen=True)
class SeriesCounts:
    """A batch's rows by state (`Manifest.series_counts`), as both its progress line and its
    summary count them: `unread` rows, folders in which no series could be read (failed rows,
    counted in `failed`), apart from the series."""

    pending: int
    running: int
    done: int
    failed: int
    unread: int

    @property
    def series(self) -> int:
        """The rows of series (every row but the unread folders)."""
        return self.pending + self.running + self.done + self.failed - self.unread

    @property
    def series_failed(self) -> int:
        """The series that failed (the unread folders left out)."""
        return self.failed - self.unread

    @property
    def left(self) -> int:
        """The series not finished: pending or running."""
        return self.pending + self.running


@dataclass(frozen=True)
class BatchSummary:
    """What a batch run did. `ran` counts the jobs this run finished (done or failed);
    `already_done` those skipped because an earlier run finished them; `adopted` results an
    interrupted run had written (or, on an existing cluster, its task still running went on to
    write) but not recorded, kept and not computed again; `recovered` jobs an interrupted run
    left running that this run ran again (those whose result it kept are `adopted` only). `verdicts` counts the verdicts of every done job of the folder. `seconds` is the
    wall time of this run; `studies_per_hour` the rate of jobs this run finished once the cluster
    was up (`cluster_start_seconds` to start or reach it). `counts`: the rows by state once the
    run ended."""

    counts: SeriesCounts
    ran: int
    already_done: int
    adopted: int
    recovered: int
    verdicts: dict
    model: str
    """The model every verdict was made with (`ModelRecord.label`: the folder's settings bind it)."""
    seconds: float
    studies_per_hour: float
    cluster_start_seconds: float = 0.0
    workers: dict = field(default_factory=dict)
    """Worker process id → {"jobs": jobs it ran, "model_loads": times it loaded the model (one
    per process when the session is reused), "cpu_seconds": CPU time its jobs took}."""
    without_report: int = 0
    """With --report: done jobs that have no PDF (an earlier run finished them without --report;
    a finished result is never made again)."""
    caveats: tuple[str, ...] = ()
    """Why the jobs found may not be all there are (a DICOMweb listing that may be incomplete)."""
    changed: int = 0
    """Jobs an earlier run finished (done or failed) whose series has changed since (files added,
    removed or resized; another instance count on the server): analysed again by this run."""
    skipped: str = ""
    """The entries skipped when SOURCE was read, in words (`Plan.skipped_note`); "" when none."""
    unavailable: int = 0
    """Failed jobs whose server was unavailable (`task.SERVER_UNAVAILABLE`): the batch did not
    do its work, and a rerun tries them again."""
    server_gone: bool = False
    """The batch stopped submitting jobs once the server was found unavailable: the `pending`
    jobs were left for a rerun."""

    @property
    def total(self) -> int:
        """Every row, the folders without a readable series included."""
        return self.counts.series + self.counts.unread

    @property
    def done(self) -> int:
        return self.counts.done

    @property
    def failed(self) -> int:
        """Every failed row, the folders without a readable series included."""
        return self.counts.failed

    @property
    def pending(self) -> int:
        """The series not finished (left for a rerun)."""
        return self.counts.left

    def lines(self) -> list[str]:
        verdicts = ", ".join(f"{n} {v}" for v, n in sorted(self.verdicts.items())) or "none"
        counts = self.counts
        unread = (
            f"; {counts.unread} folder{'s' * (counts.unread != 1)} without a readable series"
            if counts.unread
            else ""
        )
        return (
            [
                f"batch: {counts.series} series: {counts.done} done, {counts.series_failed} "
                f"failed, {counts.left} left{unread}",
                f"       this run: {self.ran} finished in {self.seconds:.1f} s "
                f"({self.studies_per_hour:.0f} studies/hour once the cluster was up, "
                f"{self.cluster_start_seconds:.1f} s to start it); {self.already_done} done earlier, skipped"
                + (f"; {self.adopted} results of an interrupted run kept" if self.adopted else "")
                + (f"; {self.recovered} interrupted jobs run again" if self.recovered else "")
                + (
                    f"; {self.changed} finished series changed since (files added, removed or resized, "
                    "or the server's instance count) and were analysed again"
                    if self.changed
                    else ""
                ),
                f"       verdicts ({self.model}; not a diagnosis): {verdicts}",
            ]
            + (
                [
                    f"       {self.without_report} finished series have no PDF report: an earlier run made "
                    "them without --report, and a finished result is not made again (lunglens analyze "
                    "FOLDER --report makes one)"
                ]
                if self.without_report
                else []
            )
            + (
                [
                    f"       {self.unavailable} of the failed series failed because the server was "
                    "unavailable (unreachable, no answer in time, a server error or a transfer cut "
                    "short): run the batch again once it is back (a rerun, as --retry-failed, tries them again)"
                ]
                if self.unavailable
                else []
            )
            + (
                [
                    f"       the server was unavailable, so the batch stopped: {self.pending} series "
                    f"{'was' if self.pending == 1 else 'were'} not analysed and "
                    f"{'is' if self.pending == 1 else 'are'} left pending for a rerun once the server is back"
                ]
                if self.server_gone and self.pending
                else []
            )
            + [f"       warning: {caveat}" for caveat in self.caveats]
            + ([f"       skipped: {self.skipped}"] if self.skipped else [])
        )


class ProgressLine:
    """Reports done/failed/remaining and throughput after each finished job."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = self.stream.isatty()

    def __call__(
        self, done: int, failed: int, remaining: int, ran: int, seconds: float, last: str, final: bool
    ) -> None:
        """`last`: the job that answered, in words; `final`: the run's last answer (the jobs left,
        if any, wait for a rerun)."""
        total = done + failed + remaining
        rate = 3600.0 * ran / seconds if seconds > 0 else 0.0
        counts = f"{done} done, {failed} failed, {remaining} left — {rate:.0f} studies/hour"
        if self.terminal:
            filled = int(BAR_WIDTH * (done + failed) / total) if total else BAR_WIDTH
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            end = "\n" if final else ""
            print(f"\rbatch [{bar}] {counts}", end=end, file=self.stream, flush=True)
        else:
            print(f"batch: {counts} ({last})", file=self.stream, flush=True)
