"""SpikingVTG: the spiking student (ternary LIF, spiking attention, SFG, spiking decoders), its
variants (base, NF, 1-bit NF), equilibrium training by implicit differentiation, and CLRM."""
