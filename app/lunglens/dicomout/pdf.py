"""The PDF report as a DICOM Encapsulated PDF instance (PS3.3 A.45.1): highdicom's SOP common,
patient and study modules, with the Encapsulated Document and SC Equipment modules added
(highdicom has no class of its own for encapsulated documents)."""

from __future__ import annotations

from collections.abc import Sequence

from highdicom.base import SOPClass
from pydicom.dataset import Dataset
from pydicom.uid import EncapsulatedPDFStorage, ExplicitVRLittleEndian

from lunglens import RESEARCH_ONLY
from lunglens.dicomout import identity as ids
from lunglens.dicomout.facts import ResultFacts
from lunglens.dicomout.source import unique_instances

TITLE = f"LungLens report ({RESEARCH_ONLY})"


def build_pdf(
    facts: ResultFacts,
    study_header: Dataset,
    sources: Sequence[Dataset],
    pdf_bytes: bytes,
    *,
    identified: bool,
    series_uid: str,
    sop_uid: str,
) -> SOPClass:
    """The Encapsulated PDF of `pdf_bytes` in the study of `study_header`, citing `sources`
    (the source slices the report shows) as the instances it was made from. `identified`:
    whether the PDF names the patient (Burned In Annotation)."""
    if not pdf_bytes.startswith(b"%PDF"):
        raise ValueError("the report bytes are not a PDF")
    document = SOPClass(
        study_instance_uid=str(study_header.StudyInstanceUID),
        series_instance_uid=series_uid,
        series_number=ids.PDF_SERIES.number,
        sop_instance_uid=sop_uid,
        sop_class_uid=EncapsulatedPDFStorage,
        instance_number=1,
        modality="DOC",
        manufacturer=ids.MANUFACTURER,
        transfer_syntax_uid=ExplicitVRLittleEndian,
        series_description=ids.PDF_SERIES.description,
        manufacturer_model_name=ids.SOFTWARE,
        software_versions=facts.lunglens_version,
        # the source's, as highdicom's SR, SEG and secondary capture take it from their source
        specific_character_set=study_header.get("SpecificCharacterSet"),
    )
    document.copy_patient_and_study_information(study_header)
    document.ContributingEquipmentSequence = ids.contributing_equipment(facts)
    document.ConversionType = "WSD"  # SC Equipment: made on a workstation
    document.AcquisitionDateTime = f"{document.ContentDate}{document.ContentTime}"
    document.BurnedInAnnotation = "YES" if identified else "NO"
    document.DocumentTitle = TITLE
    document.ConceptNameCodeSequence = []
    document.MIMETypeOfEncapsulatedDocument = "application/pdf"
    data = pdf_bytes + (b"\0" if len(pdf_bytes) % 2 else b"")
    document.EncapsulatedDocument = data
    document.EncapsulatedDocumentLength = len(pdf_bytes)
    cited = []
    for header in unique_instances(sources):
        item = Dataset()
        item.ReferencedSOPClassUID = header.SOPClassUID
        item.ReferencedSOPInstanceUID = header.SOPInstanceUID
        cited.append(item)
    if cited:
        document.SourceInstanceSequence = cited
    return document
