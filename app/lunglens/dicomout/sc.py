"""Secondary captures of the report's key images with the Grad-CAM (and the lung contours and lesion
outlines, when the quantification gave label maps) burnt into the pixels: the one overlay every viewer
shows. The slices, the window and the colours are the PDF report's (`lunglens.report.images`);
the window and what the colours mean are stated in each image's Derivation Description."""

from __future__ import annotations

import numpy as np
from highdicom.sc import SCImage
from pydicom.dataset import Dataset

from lunglens import RESEARCH_ONLY
from lunglens.dicomout import identity as ids
from lunglens.dicomout.facts import ResultFacts
from lunglens.dicomout.source import SourceImages
from lunglens.render.contours import LESION_CONTOURS, LUNG_CONTOURS
from lunglens.report.images import LUNG_WINDOW, KeyImage, cam_description, key_image_caption

#: Patient direction of a positive step along each patient axis (PS3.3 C.7.6.1.1.1).
_AXIS_LETTERS = (("L", "R"), ("P", "A"), ("H", "F"))


def patient_orientation(header: Dataset) -> tuple[str, str]:
    """The patient directions of the image's rows and columns (e.g. ("L", "P") for an axial
    head-first-supine slice), from the dominant component of each direction cosine."""
    cosines = [float(v) for v in header.ImageOrientationPatient]
    letters = []
    for vector in (cosines[:3], cosines[3:]):
        axis = int(np.argmax(np.abs(vector)))
        letters.append(_AXIS_LETTERS[axis][0 if vector[axis] > 0 else 1])
    return letters[0], letters[1]


def derivation(facts: ResultFacts, with_outlines: bool) -> str:
    """What the pixels are: the window and what each colour means."""
    text = (
        f"{LUNG_WINDOW.name} window W {LUNG_WINDOW.width:g} / L {LUNG_WINDOW.level:g} HU; Grad-CAM of "
        f"{facts.model_name} {facts.model_version} burnt in ({cam_description()})"
    )
    if with_outlines:
        text += f"; outlines: {LUNG_CONTOURS.names[1]} RGB{LUNG_CONTOURS.colours[1]}, " + ", ".join(
            f"{LESION_CONTOURS.names[v]} RGB{rgb}" for v, rgb in LESION_CONTOURS.colours.items()
        )
    return text + f"; {RESEARCH_ONLY}"


def build_key_image(
    facts: ResultFacts,
    sources: SourceImages,
    key: KeyImage,
    number: int,
    with_outlines: bool,
    *,
    series_uid: str,
    sop_uid: str,
) -> SCImage:
    """The secondary capture of key image `key` (instance `number` of the series; its overlay
    carries the outlines when `with_outlines`, `key_images`), referring to its source slice
    (Source Image Sequence) and, through it, the source series (Common Instance Reference: what
    `lunglens.pacs.results_for_series` finds it by)."""
    header = sources.headers[key.index]
    image = SCImage.from_ref_dataset(
        ref_dataset=header,
        pixel_array=np.ascontiguousarray(key.overlay, np.uint8),
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        series_instance_uid=series_uid,
        series_number=ids.SC_SERIES.number,
        sop_instance_uid=sop_uid,
        instance_number=number,
        manufacturer=ids.MANUFACTURER,
        pixel_spacing=tuple(float(v) for v in header.PixelSpacing),
        patient_orientation=patient_orientation(header),
        series_description=ids.SC_SERIES.description,
        contributing_equipment=ids.contributing_equipment(facts),
    )
    image.copy_patient_and_study_information(header)  # as the PDF: Study Description too
    caption = key_image_caption(key, len(sources.headers), facts.slice_cutoff)
    image.ImageComments = f"{caption}; model {facts.model_label}; {RESEARCH_ONLY}"
    image.DerivationDescription = derivation(facts, with_outlines)
    image.BurnedInAnnotation = "YES" if sources.burned_in_annotation else "NO"  # the source's pixels
    if "BodyPartExamined" in header:  # says the body part is unpaired: no Laterality needed
        image.BodyPartExamined = header.BodyPartExamined
    source = Dataset()
    source.ReferencedSOPClassUID = header.SOPClassUID
    source.ReferencedSOPInstanceUID = header.SOPInstanceUID
    purpose = Dataset()
    purpose.CodeValue = "121322"
    purpose.CodingSchemeDesignator = "DCM"
    purpose.CodeMeaning = "Source image for image processing operation"
    source.PurposeOfReferenceCodeSequence = [purpose]
    image.SourceImageSequence = [source]
    instance = Dataset()
    instance.ReferencedSOPClassUID = header.SOPClassUID
    instance.ReferencedSOPInstanceUID = header.SOPInstanceUID
    referenced = Dataset()
    referenced.SeriesInstanceUID = header.SeriesInstanceUID
    referenced.ReferencedInstanceSequence = [instance]
    image.ReferencedSeriesSequence = [referenced]
    return image
