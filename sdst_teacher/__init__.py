"""Non-spiking teachers and comparison models: SDST (complete) and a UniVTG-style encoder."""
