"""The segmentation: a binary DICOM SEG of the lungs (right, left) and the lesion map (ground
glass, consolidation) on the source slices. It needs the quantification's label volumes; the
selector's kept range is not a segmentation, so without them there is no SEG."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from highdicom import AlgorithmIdentificationSequence
from highdicom.seg import SegmentAlgorithmTypeValues, Segmentation, SegmentDescription
from highdicom.sr import CodedConcept
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from lunglens import RESEARCH_ONLY
from lunglens.dicomout import identity as ids
from lunglens.dicomout.facts import ResultFacts
from lunglens.dicomout.source import DicomOutError, SourceImages


@dataclass(frozen=True)
class SegmentRule:
    """One segment: which label volume ("lungs" or "lesions") and which label value in it, its
    label and its coded category and type."""

    volume: str
    value: int
    label: str
    category: CodedConcept
    property_type: CodedConcept


ANATOMY = CodedConcept.from_code(codes.SCT.AnatomicalStructure)
ABNORMAL = CodedConcept.from_code(codes.SCT.MorphologicallyAbnormalStructure)

#: Lungs: 0 outside, 1 right lung, 2 left lung (patient right/left). Lesions: 0 none,
#: 1 ground glass, 2 consolidation (the quantification's label volumes).
SEGMENTS = (
    SegmentRule("lungs", 1, "Right lung", ANATOMY, CodedConcept("3341006", "SCT", "Right lung")),
    SegmentRule("lungs", 2, "Left lung", ANATOMY, CodedConcept("44029006", "SCT", "Left lung")),
    SegmentRule("lesions", 1, "Ground glass", ABNORMAL, CodedConcept.from_code(ids.GROUND_GLASS)),
    SegmentRule("lesions", 2, "Consolidation", ABNORMAL, ids.CONSOLIDATION),
)


def build_seg(
    facts: ResultFacts,
    sources: SourceImages,
    lung_labels: np.ndarray,
    lesion_labels: np.ndarray,
    *,
    series_uid: str,
    sop_uid: str,
) -> Segmentation:
    """The SEG of `lung_labels` and `lesion_labels` (uint8, z, y, x in the series' volume order,
    values as SEGMENTS says) on the source slices of `sources`."""
    volumes = {"lungs": np.asarray(lung_labels), "lesions": np.asarray(lesion_labels)}
    shape = (len(sources.headers), int(sources.headers[0].Rows), int(sources.headers[0].Columns))
    for name, volume in volumes.items():
        if volume.shape != shape:
            raise DicomOutError(f"{name} label volume has shape {volume.shape}, the series {shape}")
    masks = np.stack([volumes[rule.volume] == rule.value for rule in SEGMENTS], axis=-1)
    quantification = facts.quantification or {}
    algorithm = AlgorithmIdentificationSequence(
        name=f"{ids.SOFTWARE} quantification",
        family=codes.DCM.ArtificialIntelligence,
        version=facts.lunglens_version,
        parameters={
            "method": str(quantification.get("method", "not stated")),
            "description": str(quantification.get("method_description") or "not stated"),
        },
    )
    descriptions = [
        SegmentDescription(
            segment_number=number,
            segment_label=rule.label,
            segmented_property_category=rule.category,
            segmented_property_type=rule.property_type,
            algorithm_type=SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
            tracking_uid=generate_uid(),
            tracking_id=f"LungLens {rule.label.lower()}",
        )
        for number, rule in enumerate(SEGMENTS, start=1)
    ]
    return Segmentation(
        source_images=list(sources.headers),
        pixel_array=masks,
        segmentation_type="BINARY",
        segment_descriptions=descriptions,
        series_instance_uid=series_uid,
        series_number=ids.SEG_SERIES.number,
        sop_instance_uid=sop_uid,
        instance_number=1,
        manufacturer=ids.MANUFACTURER,
        manufacturer_model_name=ids.SOFTWARE,
        software_versions=facts.lunglens_version,
        device_serial_number=ids.DEVICE_SERIAL_NUMBER,
        content_label="LUNGLENS",
        content_description=f"Lungs and lesions ({RESEARCH_ONLY})",
        series_description=ids.SEG_SERIES.description,
        contributing_equipment=ids.contributing_equipment(facts),
    )
