"""Qt-free drawing of analysis results on slices (the Grad-CAM overlay), shared by the viewer and
the reports. Sits above inference/quant/analysis (it draws their results) and below report and ui."""
