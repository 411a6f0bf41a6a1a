"""The structured report: a Comprehensive 3D SR holding a TID 1500 Measurement Report with the
patient decision, the kept slices' P(COVID) (each referring to its source image) and, when the
analysis carries one, the quantification per lung, per zone and in total. UNVERIFIED: no
person has checked it. The algorithm is identified as IHE AI Results asks (TID 4019 and the
Contributing Equipment Sequence)."""

from __future__ import annotations

from highdicom.sr import (
    Comprehensive3DSR,
    DeviceObserverIdentifyingAttributes,
    FindingSite,
    Measurement,
    MeasurementReport,
    MeasurementsAndQualitativeEvaluations,
    ObservationContext,
    ObserverContext,
    QualitativeEvaluation,
    RelationshipTypeValues,
    SourceImageForMeasurement,
    TextContentItem,
    TrackingIdentifier,
)
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from lunglens import RESEARCH_ONLY
from lunglens.core.decision import exact_text
from lunglens.dicomout import identity as ids
from lunglens.dicomout.facts import ResultFacts
from lunglens.dicomout.source import SourceImages, unique_instances
from lunglens.quant.result import covers_part_of_lungs, severity_score_text
from lunglens.quant.summary import NOT_COVID_SPECIFIC
from lunglens.quant.zones import THIRDS, zone_name

#: The quantification's regions: (key in the lungs/zones dict, laterality, third of the lung).
LUNGS = (("right", ids.RIGHT), ("left", ids.LEFT))
ZONES = tuple((zone_name(side, third), laterality, third) for side, laterality in LUNGS for third in THIRDS)
#: Quantities of every region: (key in its dict, concept, unit).
REGION_QUANTITIES = (
    ("volume_ml", ids.LUNG_VOLUME, ids.UNIT_ML),
    ("affected_ml", ids.AFFECTED_VOLUME, ids.UNIT_ML),
    ("affected_percent", ids.AFFECTED_PERCENT, ids.UNIT_PERCENT),
    ("ggo_percent", ids.GGO_PERCENT, ids.UNIT_PERCENT),
    ("consolidation_percent", ids.CONSOLIDATION_PERCENT, ids.UNIT_PERCENT),
)


def _comment(text: str) -> TextContentItem:
    return TextContentItem(
        name=codes.DCM.Comment, value=text[:1024], relationship_type=RelationshipTypeValues.CONTAINS
    )


def _with_comments(
    group: MeasurementsAndQualitativeEvaluations, texts
) -> MeasurementsAndQualitativeEvaluations:
    """TID 1501 groups take no free text in highdicom's constructor; the comments (DCM 121106)
    go into the group container after it."""
    group[0].ContentSequence.extend(_comment(text) for text in texts)
    return group


def decision_group(facts: ResultFacts) -> MeasurementsAndQualitativeEvaluations:
    """The patient decision: COVID-19 present or absent by the rule k > f x n, with k, n, f and
    the slice cut-off as measurements and the rule in words."""
    rule = (
        f"slice cut-off {exact_text(facts.slice_cutoff)}",
        f"patient fraction f {exact_text(facts.patient_fraction)}",
    )
    group = MeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(uid=generate_uid(), identifier="LungLens patient decision"),
        finding_type=ids.COVID19,
        algorithm_id=ids.algorithm(facts, rule),
        measurements=[
            Measurement(ids.POSITIVE_SLICES, facts.k_positive, ids.UNIT_SLICES),
            Measurement(ids.KEPT_SLICES, facts.n_kept, ids.UNIT_SLICES),
            Measurement(ids.PATIENT_FRACTION, facts.patient_fraction, ids.UNIT_NONE),
            Measurement(ids.SLICE_CUTOFF, facts.slice_cutoff, ids.UNIT_NONE),
        ],
        qualitative_evaluations=[
            QualitativeEvaluation(ids.PATIENT_DECISION, ids.PRESENT if facts.covid else ids.ABSENT)
        ],
    )
    return _with_comments(
        group,
        [
            f"Verdict: {facts.summary}",
            f"{facts.verdict_caveat} {RESEARCH_ONLY.capitalize()}.",
        ],
    )


def slices_group(facts: ResultFacts, sources: SourceImages) -> MeasurementsAndQualitativeEvaluations:
    """P(COVID) of every kept, classified slice, each referring to its source image."""
    measurements = []
    for item in facts.slices:
        header = sources.headers[item.index]
        measurements.append(
            Measurement(
                ids.SLICE_P_COVID,
                round(item.p_covid, 6),
                ids.UNIT_NONE,
                referenced_images=[
                    SourceImageForMeasurement(str(header.SOPClassUID), str(header.SOPInstanceUID))
                ],
            )
        )
    return MeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(uid=generate_uid(), identifier="LungLens per-slice P(COVID)"),
        finding_type=ids.SLICE_PROBABILITIES,
        algorithm_id=ids.algorithm(facts),
        measurements=measurements,
    )


def _region_measurements(region: dict) -> list[Measurement]:
    return [
        Measurement(concept, float(region[key]), unit)
        for key, concept, unit in REGION_QUANTITIES
        if region.get(key) is not None
    ]


def quantification_groups(facts: ResultFacts) -> list[MeasurementsAndQualitativeEvaluations]:
    """Per lung, per zone (with its zone score) and in total (with the severity score, its name,
    the zone definition and the warnings), as the quantification dict states them (schema of
    `Quantification.to_dict()`)."""
    q = facts.quantification
    algorithm = ids.quantification_algorithm(facts)

    def group(label: str, site: FindingSite, region: dict, extra=(), comments=()):
        made = MeasurementsAndQualitativeEvaluations(
            tracking_identifier=TrackingIdentifier(uid=generate_uid(), identifier=f"LungLens {label}"),
            finding_type=ids.QUANTIFICATION,
            algorithm_id=algorithm,
            finding_sites=[site],
            measurements=[*_region_measurements(region), *extra],
        )
        return _with_comments(made, comments)

    groups = [
        group(f"{side} lung", FindingSite(ids.LUNG, laterality=laterality), q["lungs"][side])
        for side, laterality in LUNGS
    ]
    for key, laterality, third in ZONES:
        zone_score = Measurement(ids.ZONE_SCORE, int(q["zone_scores"][key]), ids.UNIT_SCORE)
        site = FindingSite(ids.LUNG, laterality=laterality, topographical_modifier=ids.ZONE_THIRDS[third])
        groups.append(group(f"zone {key.replace('_', ' ')}", site, q["zones"][key], [zone_score]))
    score = Measurement(ids.SEVERITY_SCORE, int(q["severity_score"]), ids.UNIT_SCORE)
    score_text = severity_score_text(q["severity_score"], q["severity_score_max"], covers_part_of_lungs(q))
    comments = [
        f"Method: {q['method']}: {q.get('method_description') or 'not stated'}. Severity score "
        f"{score_text}: {q['severity_score_name']}. Zones: {q['zone_definition']}. {NOT_COVID_SPECIFIC}",
        *(f"Warning: {w}" for w in q.get("warnings", [])),
    ]
    groups.append(group("both lungs", FindingSite(ids.WHOLE_LUNGS), q["total"], [score], comments))
    return groups


def build_sr(
    facts: ResultFacts, sources: SourceImages, *, series_uid: str, sop_uid: str
) -> Comprehensive3DSR:
    """The Comprehensive 3D SR of `facts` in the study of `sources` (a new series)."""
    observer = ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=DeviceObserverIdentifyingAttributes(
            uid=generate_uid(entropy_srcs=[ids.SOFTWARE, facts.model_sha256]),
            name=ids.SOFTWARE,
            manufacturer_name=ids.MANUFACTURER,
            model_name=f"{facts.model_name} {facts.model_version}"[:64],
        ),
    )
    groups = [decision_group(facts), slices_group(facts, sources)]
    if facts.quantification is not None:
        groups.extend(quantification_groups(facts))
    # The evidence: the slices the report refers to (every P(COVID) names its image). No TID 1600
    # Image Library: highdicom takes 13 s to build one for P001's 90 kept slices, 1 s without.
    evidence = unique_instances(sources.headers[item.index] for item in facts.slices) or [
        sources.study_header()
    ]
    report = MeasurementReport(
        observation_context=ObservationContext(observer_device_context=observer),
        procedure_reported=ids.CT_OF_CHEST,
        imaging_measurements=groups,
    )
    return Comprehensive3DSR(
        evidence=evidence,
        content=report,
        series_instance_uid=series_uid,
        series_number=ids.SR_SERIES.number,
        sop_instance_uid=sop_uid,
        instance_number=1,
        manufacturer=ids.MANUFACTURER,
        is_complete=True,
        is_final=False,
        is_verified=False,
        series_description=ids.SR_SERIES.description,
        coding_schemes=[ids.CODING_SCHEME],
        contributing_equipment=ids.contributing_equipment(facts),
    )
