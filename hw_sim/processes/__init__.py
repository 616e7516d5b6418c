"""Custom Lava processes of the SpikingVTG simulation, one package each (process.py: ports and
variables; models.py: floating_pt and fixed_pt behaviour). Lava finds a process's models by importing
the modules beside its process.py, so nothing else lives in these packages."""
