"""The simulation's spikes are pinned: fixed weights and a fixed batch give the spike counts and read-outs
recorded in tests/fixtures/spike_pin (written by its make_fixture.py before the fused timestep), for
every variant. A faster simulation must be the same simulation."""

import json
from pathlib import Path

import pytest
import torch

from spiking.model import build

FIXTURES = Path(__file__).parent / "fixtures" / "spike_pin"
DIMS = {"video_dim": 8, "text_dim": 6, "video_levels": 1, "text_levels": 1}


@pytest.mark.parametrize("variant", ["base", "nf", "1bit_nf"])
def test_spikes_and_readouts_are_pinned(variant):
    saved = torch.load(FIXTURES / f"{variant}.pt", weights_only=True)
    expected = json.loads((FIXTURES / f"{variant}.json").read_text())
    model = build(saved["config"], DIMS).eval()
    model.load_state_dict(saved["state_dict"])
    with torch.no_grad():
        outputs = model(saved["batch"], activity=True)
    spikes = {name: entry["spikes"].tolist() for name, entry in outputs["activity"].items()}
    assert spikes == expected["spikes"]  # every population, every step, exactly
    for key in ("foreground_logits", "boundary", "saliency"):
        assert torch.allclose(outputs[key], torch.tensor(expected[key]), atol=1e-5), key
