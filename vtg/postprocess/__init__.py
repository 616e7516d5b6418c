"""Post-processing shared by the models: temporal IoU, NMS and soft-NMS on 1-D windows, clip/time
conversions, and turning clip-wise outputs into official prediction lines (``predictions``)."""
