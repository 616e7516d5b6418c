"""Loihi-style CPU simulation in Lava: custom processes, their floating- and fixed-point models,
and the runner behind ``vtg simulate``."""
