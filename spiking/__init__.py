"""SpikingVTG: the spiking student (ternary LIF, spiking attention, SFG, spiking decoders), its
variants (base, NF, 1-bit NF), equilibrium training by implicit differentiation, and CLRM."""

from vtg.quiet_imports import import_cpp_extension_quietly

import_cpp_extension_quietly()  # before Brevitas (and onnxruntime) import it loudly
