"""Training losses shared by the models of the toolkit (clip-wise: SpikingVTG and the UniVTG-style teacher)."""
