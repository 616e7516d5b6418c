"""The training-memory benchmark's fake-tensor count equals the graph a real forward saves."""

from __future__ import annotations

import pytest

from benchmarks.implicit_vs_bptt import QUICK, graph_mb


@pytest.mark.parametrize("grad", ["implicit", "bptt"])
def test_fake_tensor_graph_equals_the_real_one(grad):
    fake = graph_mb(grad, 3, QUICK, batch_size=2)
    assert fake > 0.1
    assert fake == pytest.approx(graph_mb(grad, 3, QUICK, batch_size=2, fake=False), rel=1e-12)


def test_fake_tensor_graph_grows_with_the_batch_and_tc():
    assert graph_mb("bptt", 4, QUICK, batch_size=4) > 1.5 * graph_mb("bptt", 2, QUICK, batch_size=4)
    assert graph_mb("implicit", 2, QUICK, batch_size=4) > graph_mb("implicit", 2, QUICK, batch_size=1)
