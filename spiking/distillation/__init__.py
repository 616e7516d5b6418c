"""CLRM knowledge transfer from a frozen non-spiking teacher to the SpikingVTG student (paper Sec. 4.5.1).

- ``clrm``: the CLRM loss (cosine and L2 of hidden states and of attention maps) and the layer map teacher -> student;
- ``recipe``: the ``distill:`` section, the student-and-teacher LightningModule and its CLRM and task stages;
- ``transfer_data``: the CLRM stage's epochs on another split (``distill.transfer_split``);
- ``comparison`` and ``comparison_plot``: teacher, distilled and label-only students side by side;
- ``distill_command``: ``vtg distill``.

The student's model stays in :mod:`spiking`; this subpackage imports it and :mod:`vtg`, never the other
way round.
"""
