"""STOW-RS: send DICOM objects (LungLens' results) to a DICOMweb server."""

from __future__ import annotations

from collections.abc import Sequence

from pydicom.dataset import Dataset
from requests import RequestException

from lunglens.pacs.connection import Connection, PacsError, ServerError, named_error


def store(connection: Connection, datasets: Sequence[Dataset]) -> list[str]:
    """Store `datasets` (one study); returns their SOP Instance UIDs, each acknowledged by the
    server (in the ReferencedSOPSequence of its answer). Raises a named PacsError, ServerError
    naming how many instances it refused (FailedSOPSequence), and ServerError naming how many it
    acknowledged when that is not all of them (an answer that is no STOW-RS answer, e.g. a web
    page or `{}`, acknowledges none)."""
    if not datasets:
        return []
    study_uid = str(datasets[0].StudyInstanceUID)
    what = f"storing {len(datasets)} instance(s) in study {study_uid}"
    try:
        response = connection.client().store_instances(list(datasets))
        failed = [
            str(item.get("ReferencedSOPInstanceUID", "")) for item in response.get("FailedSOPSequence", [])
        ]
        acknowledged = {
            str(item.get("ReferencedSOPInstanceUID", ""))
            for item in response.get("ReferencedSOPSequence", [])
        }
    except (PacsError, RequestException, ValueError) as exc:
        raise named_error(connection, exc, what) from None
    if failed:
        raise ServerError(
            f"{connection.where}: refused {len(failed)} of {len(datasets)} instances while {what}"
        )
    sent = [str(dataset.SOPInstanceUID) for dataset in datasets]
    missing = [uid for uid in sent if uid not in acknowledged]
    if missing:
        raise ServerError(
            f"{connection.where}: acknowledged {len(sent) - len(missing)} of {len(sent)} instances while "
            f"{what} (the answer lists no others as stored: not a STOW-RS answer, or the server kept "
            "them silently; look in the PACS before sending again)"
        )
    return sent


def stored_text(stored: Sequence[str], study_uid: str, connection: Connection) -> str:
    """What the command line and the viewer say once `store` returned the UIDs `stored`: "3 result
    objects stored in study 1.2.3 at https://pacs.example/dicom-web"."""
    return f"{len(stored)} result objects stored in study {study_uid} at {connection.where}"
