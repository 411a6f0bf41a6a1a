"""Quantification: lungs, zones, lesion maps, burden (no Qt)."""
