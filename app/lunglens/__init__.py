"""LungLens: a chest CT viewer with the lung-open slice selector and the ResNet50V2-FPN
COVID-19 classifier of Rahimzadeh, Attar & Sakhaei (2020). Research use only."""

__version__ = "0.1.0"
