"""Loihi-style CPU simulation in Lava: custom processes, their floating- and fixed-point models,
and the runner behind ``vtg simulate``."""

import multiprocessing

# Lava sets the 'fork' start method when its message infrastructure is imported, without force, and fails with
# "context has already been set" when anything earlier fixed the context (a tqdm progress bar's lock does).
# Every Lava use of the project goes through this package: free the context and let Lava set it now, once.
if multiprocessing.get_start_method(allow_none=True) is not None:
    multiprocessing.set_start_method(None, force=True)
import lava.magma.runtime.message_infrastructure.multiprocessing  # noqa: E402, F401
