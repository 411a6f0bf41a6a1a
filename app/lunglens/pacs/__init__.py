"""PACS over DICOMweb (no Qt), with dicomweb-client: find studies and their series (QIDO-RS), retrieve a study
into a folder (WADO-RS) and store results (STOW-RS). Credentials come from the environment
only (see `lunglens.pacs.connection`). DIMSE (C-FIND/C-MOVE/C-STORE) is planned, not here."""

from lunglens.pacs.address import SeriesAddress
from lunglens.pacs.connection import (
    AuthenticationFailed,
    Connection,
    HostUnreachable,
    MalformedAnswer,
    PacsError,
    PacsTimeout,
    PartialTransfer,
    ServerError,
    StudyNotFound,
)
from lunglens.pacs.find import (
    Listing,
    SeriesSummary,
    StudySummary,
    ct_series,
    find_series,
    find_studies,
    results_for_series,
)
from lunglens.pacs.retrieve import Retrieved, RetrySchedule, retrieve_study
from lunglens.pacs.store import store, stored_text

__all__ = [
    "AuthenticationFailed",
    "Connection",
    "HostUnreachable",
    "Listing",
    "MalformedAnswer",
    "PacsError",
    "PacsTimeout",
    "PartialTransfer",
    "Retrieved",
    "RetrySchedule",
    "SeriesAddress",
    "SeriesSummary",
    "ServerError",
    "StudyNotFound",
    "StudySummary",
    "ct_series",
    "find_series",
    "find_studies",
    "results_for_series",
    "retrieve_study",
    "store",
    "stored_text",
]
