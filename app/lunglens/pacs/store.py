"""STOW-RS: send DICOM objects (LungLens' results) to a DICOMweb server, then check with QIDO-RS
that it holds them: a server may acknowledge an instance that a site rule then turned away
(Orthanc lists what its ReceivedInstanceFilter refused as stored), and a store cut short may have
left some of the objects there. A server that indexes what it received in the background lists
it a moment after its answer: a short listing is listed again (`LIST_AGAIN_S`) before it counts."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

from pydicom.dataset import Dataset
from requests import RequestException
from requests.exceptions import ConnectTimeout, SSLError
from urllib3.exceptions import NewConnectionError

from lunglens.pacs.connection import (
    AuthenticationFailed,
    Connection,
    PacsError,
    ServerError,
    StudyNotFound,
    named_error,
)
from lunglens.pacs.find import dataset_from_json, every_result

#: What messages call one object of each modality LungLens sends, and several of them.
KINDS = {
    "SR": ("the structured report (SR)", "structured reports (SR)"),
    "SEG": ("the segmentation (SEG)", "segmentations (SEG)"),
    "OT": ("a key image (secondary capture)", "key images (secondary captures)"),
    "DOC": ("the PDF report (encapsulated PDF)", "PDF reports (encapsulated PDF)"),
}

#: The waits (seconds) before each further listing when the server answered the store but lists
#: fewer of the objects than were sent (10 s in all): it may still be indexing them.
LIST_AGAIN_S = (0.5, 1.0, 2.0, 3.0, 3.5)


def store(connection: Connection, datasets: Sequence[Dataset]) -> list[str]:
    """Store `datasets` (one study); returns their SOP Instance UIDs, each acknowledged by the
    server (in the ReferencedSOPSequence of its answer) and then listed by it in its series
    (QIDO-RS). Raises a named PacsError, ServerError naming how many instances it refused
    (FailedSOPSequence), ServerError naming how many it acknowledged when that is not all of them
    (an answer that is no STOW-RS answer, e.g. a web page or `{}`, acknowledges none), and
    ServerError naming the objects it acknowledged but does not list even after `LIST_AGAIN_S`.
    Each failure after the request was sent says which objects the server now lists (`held_text`):
    after an answer, once the listing has settled (`settled`); after a request that failed (a
    timeout), at that moment, the server perhaps still storing."""
    if not datasets:
        return []
    study_uid = str(datasets[0].StudyInstanceUID)
    what = f"storing {len(datasets)} instance(s) in study {study_uid}"
    sent = [str(dataset.SOPInstanceUID) for dataset in datasets]
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
        error = named_error(connection, exc, what)
        if not _nothing_stored(exc, error):
            error.args = (f"{error}; {held_text(datasets, held(connection, datasets), storing=True)}",)
        raise error from None
    if failed:
        raise ServerError(
            f"{connection.where}: refused {len(failed)} of {len(datasets)} instances while {what}; "
            f"{held_text(datasets, settled(connection, datasets))}"
        )
    missing = [uid for uid in sent if uid not in acknowledged]
    if missing:
        raise ServerError(
            f"{connection.where}: acknowledged {len(sent) - len(missing)} of {len(sent)} instances while "
            f"{what} (the answer lists no others as stored: not a STOW-RS answer, or the server kept "
            f"them silently); {held_text(datasets, settled(connection, datasets))}"
        )
    there = settled(connection, datasets)
    if isinstance(there, PacsError):
        raise ServerError(
            f"{connection.where}: the server acknowledged every instance while {what}, but listing them "
            f"there to check failed ({str(there).removeprefix(connection.where + ': ')}); look in the "
            "PACS before sending again"
        )
    if not set(sent) <= there:
        raise ServerError(
            f"{connection.where}: the server acknowledged every instance while {what} but does not list "
            f"them all {sum(LIST_AGAIN_S):.0f} s later (a rule on the server, e.g. one refusing a modality, may have turned some away); "
            f"{held_text(datasets, there)}"
        )
    return sent


def held(connection: Connection, datasets: Sequence[Dataset]) -> set[str] | PacsError:
    """The SOP Instance UIDs of `datasets` the server lists (QIDO-RS, every page) in their series
    (a series it does not know, HTTP 404, holds none), each one the listing lacks asked for by
    its UID (a server that caps its listings, e.g. Orthanc's LimitFindInstances, cuts them short
    without saying so), or the named PacsError that stopped the listing."""
    study_uid = str(datasets[0].StudyInstanceUID)
    found: set[str] = set()
    try:
        client = connection.client()
    except PacsError as exc:  # the credentials (the store itself got past them)
        return exc
    for series_uid in dict.fromkeys(str(dataset.SeriesInstanceUID) for dataset in datasets):
        wanted = {str(d.SOPInstanceUID) for d in datasets if str(d.SeriesInstanceUID) == series_uid}
        try:
            items, _offset_ignored = every_result(
                lambda offset, series_uid=series_uid: client.search_for_instances(
                    study_instance_uid=study_uid, series_instance_uid=series_uid, offset=offset
                ),
                "00080018",
            )
            for sop_uid in wanted - {
                str(dataset_from_json(item).get("SOPInstanceUID", "")) for item in items
            }:
                items += client.search_for_instances(
                    study_instance_uid=study_uid,
                    series_instance_uid=series_uid,
                    search_filters={"SOPInstanceUID": sop_uid},
                )
            found.update(str(dataset_from_json(item).get("SOPInstanceUID", "")) for item in items)
        except (PacsError, RequestException, ValueError) as exc:
            error = named_error(connection, exc, f"listing the instances of series {series_uid}")
            if not isinstance(error, StudyNotFound):
                return error
    return found


def settled(connection: Connection, datasets: Sequence[Dataset]) -> set[str] | PacsError:
    """`held` once every object of `datasets` is listed, or after listing again once after each
    wait of `LIST_AGAIN_S` (the server answered the store: it may still be indexing them), or
    once a listing failed."""
    there = held(connection, datasets)
    for wait in LIST_AGAIN_S:
        if isinstance(there, PacsError) or {str(dataset.SOPInstanceUID) for dataset in datasets} <= there:
            break
        time.sleep(wait)
        there = held(connection, datasets)
    return there


def held_text(datasets: Sequence[Dataset], there: set[str] | PacsError, storing: bool = False) -> str:
    """What the server holds of `datasets` after a store that failed or fell short, `there` being
    what `held` (or `settled`) found: "stored 6 of 7; the server did not keep: the segmentation
    (SEG); look in the PACS before sending again", or, when the listing failed, "some of the 7
    objects may have been stored: look in the PACS before sending again". `storing`: the store's
    request failed (a timeout): the server may still be storing what it does not list yet, so
    nothing is said to be missing ("none listed yet; the server may still be storing them: look
    in the PACS before sending again")."""
    n = len(datasets)
    if isinstance(there, PacsError):
        return f"some of the {n} objects may have been stored: look in the PACS before sending again"
    lost = [dataset for dataset in datasets if str(dataset.SOPInstanceUID) not in there]
    if not lost:
        return f"the server holds all {n} objects: do not send them again"
    if storing:
        listed = (
            f"none of the {n} objects listed yet"
            if len(lost) == n
            else f"{n - len(lost)} of {n} listed so far; not listed yet: {_kinds(lost)}"
        )
        return f"{listed}; the server may still be storing them: look in the PACS before sending again"
    if len(lost) == n:
        return f"the server holds none of the {n} objects: they can be sent again"
    return (
        f"stored {n - len(lost)} of {n}; the server did not keep: {_kinds(lost)}; "
        "look in the PACS before sending again"
    )


def _kinds(datasets: Sequence[Dataset]) -> str:
    """`datasets` named by kind (KINDS): "the segmentation (SEG), 2 key images (secondary captures)"."""
    counts = Counter(str(dataset.get("Modality", "")) for dataset in datasets)
    names = []
    for modality, count in counts.items():
        one, several = KINDS.get(
            modality, (f"a {modality or 'DICOM'} object", f"{modality or 'DICOM'} objects")
        )
        names.append(one if count == 1 else f"{count} {several}")
    return ", ".join(names)


def _nothing_stored(exc: Exception, error: PacsError) -> bool:
    """Whether the store request that raised `exc` (named `error`) failed before the server could
    store anything: no connection made (refused, no route, name unknown, TLS refused), or the
    credentials missing or refused (HTTP 401, 403)."""
    if isinstance(error, AuthenticationFailed) or isinstance(exc, ConnectTimeout | SSLError):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None  # urllib3's MaxRetryError
    return isinstance(reason, NewConnectionError)


def stored_text(stored: Sequence[str], study_uid: str, connection: Connection) -> str:
    """What the command line and the viewer say once `store` returned the UIDs `stored`: "3 result
    objects stored in study 1.2.3 at https://pacs.example/dicom-web"."""
    return f"{len(stored)} result objects stored in study {study_uid} at {connection.where}"
