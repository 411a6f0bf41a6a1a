"""Who made the DICOM results and how they are labelled: the equipment (LungLens and its
model, as IHE AI Results asks), the series numbers and descriptions, and the coded concepts
the structured report and the segmentation use (standard codes where DICOM or SNOMED CT has
one, LungLens' own private scheme where none exists)."""

from __future__ import annotations

from dataclasses import dataclass

from highdicom import ContributingEquipment
from highdicom.coding_schemes import CodingSchemeIdentificationItem
from highdicom.sr import AlgorithmIdentification, CodedConcept
from pydicom.sr.codedict import codes

from lunglens import RESEARCH_ONLY
from lunglens.dicomout.facts import ResultFacts

MANUFACTURER = "LungLens project"
SOFTWARE = "LungLens"
#: A software device has no serial number; the equipment modules require one (Type 1).
DEVICE_SERIAL_NUMBER = "software"


@dataclass(frozen=True)
class ResultSeries:
    """Series number and description of one kind of result."""

    number: int
    description: str


#: The result series, numbered high so that they sort after the scanner's own series; each says
#: RESEARCH_ONLY in its description (IHE AI Results; a Long String: at most 64 characters).
SR_SERIES = ResultSeries(9001, f"LungLens SR - {RESEARCH_ONLY}")
SEG_SERIES = ResultSeries(9002, f"LungLens SEG - {RESEARCH_ONLY}")
SC_SERIES = ResultSeries(9003, f"LungLens key images - {RESEARCH_ONLY}")
PDF_SERIES = ResultSeries(9004, f"LungLens PDF - {RESEARCH_ONLY}")

#: LungLens' private coding scheme (PS3.16 8.2: designators starting "99" are private).
SCHEME = "99LUNGLENS"
CODING_SCHEME = CodingSchemeIdentificationItem(
    designator=SCHEME,
    name="LungLens private codes",
    responsible_organization=MANUFACTURER,
)


def private(value: str, meaning: str) -> CodedConcept:
    return CodedConcept(value, SCHEME, meaning)


#: SNOMED CT 840539006: disease caused by SARS-CoV-2.
COVID19 = CodedConcept("840539006", "SCT", "COVID-19")
CT_OF_CHEST = CodedConcept("169069000", "SCT", "CT of chest")
PRESENT = codes.DCM.Present
ABSENT = codes.DCM.Absent
LUNG = codes.SCT.Lung
RIGHT = codes.SCT.Right
LEFT = codes.SCT.Left

PATIENT_DECISION = private("LL001", "Patient-level decision (k > f x n)")
POSITIVE_SLICES = private("LL002", "Positive kept slices (k)")
KEPT_SLICES = private("LL003", "Slices kept by the lung-open selector (n)")
PATIENT_FRACTION = private("LL004", "Patient fraction (f)")
SLICE_CUTOFF = private("LL005", "Slice cut-off on P(COVID)")
SLICE_PROBABILITIES = private("LL006", "Per-slice P(COVID) of the kept slices")
SLICE_P_COVID = private("LL007", "P(COVID) of the slice")
QUANTIFICATION = private("LL010", "Lung involvement quantification")
LUNG_VOLUME = private("LL011", "Lung volume")
AFFECTED_VOLUME = private("LL012", "Affected lung volume")
AFFECTED_PERCENT = private("LL013", "Affected lung percentage")
GGO_PERCENT = private("LL014", "Ground-glass percentage of the lung")
CONSOLIDATION_PERCENT = private("LL015", "Consolidation percentage of the lung")
SEVERITY_SCORE = private("LL016", "Six-zone CT severity score (Pan lobe score adaptation)")
ZONE_SCORE = private("LL017", "Zone severity score (0-5)")
WHOLE_LUNGS = private("LL020", "Both lungs")
ZONE_THIRDS = {
    "upper": private("LL021", "Upper third of the lung (cranio-caudal)"),
    "middle": private("LL022", "Middle third of the lung (cranio-caudal)"),
    "lower": private("LL023", "Lower third of the lung (cranio-caudal)"),
}
GROUND_GLASS = codes.DCM.GroundGlassOpacity
#: SNOMED CT 95436008: lung consolidation.
CONSOLIDATION = CodedConcept("95436008", "SCT", "Lung consolidation")

UNIT_NONE = codes.UCUM.NoUnits
UNIT_SLICES = CodedConcept("{slices}", "UCUM", "slices")
UNIT_ML = CodedConcept("ml", "UCUM", "milliliter")
UNIT_PERCENT = codes.UCUM.Percent
UNIT_SCORE = CodedConcept("{score}", "UCUM", "score")


def algorithm(facts: ResultFacts, extra: tuple[str, ...] = ()) -> AlgorithmIdentification:
    """TID 4019 Algorithm Identification: the model's name and version, with its sha256 and the
    LungLens version as parameters (IHE AI Results)."""
    return AlgorithmIdentification(
        name=facts.model_name,
        version=facts.model_version,
        parameters=[f"sha256 {facts.model_sha256}", f"LungLens {facts.lunglens_version}", *extra],
        manufacturer=MANUFACTURER,
    )


def quantification_algorithm(facts: ResultFacts) -> AlgorithmIdentification:
    """TID 4019 for the quantification (not the classifier: it did not make these figures): LungLens's
    quantification with the lesion method and its description (which names a learned lesion
    model, its version and that it is a demonstration model)."""
    q = facts.quantification or {}
    return AlgorithmIdentification(
        name=f"{SOFTWARE} quantification",
        version=facts.lunglens_version,
        parameters=[
            f"method {q.get('method', 'not stated')}",
            str(q.get("method_description") or "not stated"),
        ],
        manufacturer=MANUFACTURER,
    )


def contributing_equipment(facts: ResultFacts) -> list[ContributingEquipment]:
    """The Contributing Equipment item naming LungLens and the model (IHE AI Results)."""
    return [
        ContributingEquipment(
            manufacturer=MANUFACTURER,
            purpose_of_reference=codes.DCM.ProcessingEquipment,
            manufacturer_model_name=f"{SOFTWARE} / {facts.model_name}"[:64],
            software_versions=[facts.lunglens_version, facts.model_version],
            device_serial_number=DEVICE_SERIAL_NUMBER,
            contribution_description=(
                f"model {facts.model_name} {facts.model_version} sha256 {facts.model_sha256}"
            )[:1024],
        )
    ]
