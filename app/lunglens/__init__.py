"""LungLens: a chest CT viewer with the lung-open slice selector and the ResNet50V2-FPN
COVID-19 classifier of Rahimzadeh, Attar & Sakhaei (2020). Research use only."""

__version__ = "0.1.0"

RESEARCH_ONLY = "research use only, not for diagnostic use"
"""What every output says of itself (the PDF's banner and footer, each DICOM result, the About
box), in these words; `.upper()` or `.capitalize()` where it opens a line."""
