"""STOW-RS: send DICOM objects (LungLens' results) to a DICOMweb server."""

from __future__ import annotations

from collections.abc import Sequence

from pydicom.dataset import Dataset
from requests import RequestException

from lunglens.pacs.connection import Connection, PacsError, ServerError, named_error


def store(connection: Connection, datasets: Sequence[Dataset]) -> list[str]:
    """Store `datasets` (one study); returns the SOP Instance UIDs the server accepted.
    Raises a named PacsError, and ServerError listing the instances it refused."""
    if not datasets:
        return []
    study_uid = str(datasets[0].StudyInstanceUID)
    what = f"storing {len(datasets)} instance(s) in study {study_uid}"
    try:
        response = connection.client().store_instances(list(datasets))
    except (PacsError, RequestException) as exc:
        raise named_error(connection, exc, what) from None
    failed = [str(item.ReferencedSOPInstanceUID) for item in response.get("FailedSOPSequence", [])]
    if failed:
        raise ServerError(
            f"{connection.where}: refused {len(failed)} of {len(datasets)} instances while {what}"
        )
    return [str(item.ReferencedSOPInstanceUID) for item in response.get("ReferencedSOPSequence", [])]
