"""Spiking 1-D convolution decoders of SpikingVTG (paper Sec. 4.4).

Over the last encoder layer's spikes on the video tokens x[t] (B, Lv, D), per timestep::

    h_0[t] = x[t]
    h_j[t] = IF_j(Conv_j(h_{j-1}[t]))          j = 1 .. n-1, IF = Eq. 1 with gamma = 1
    y[t]   = Conv_n(h_{n-1}[t])                the last convolution has no neuron: its output is read out
    y      = (1 / (Tc - k)) sum_{t > k} y[t]   temporal mean over the steps read (the model's decoders run
                                               from rest after a warm-up of k steps, SpikingVTG.decode)

so ``layers = n`` counts every convolution, the read-out one included (the paper's final layer "with
a single output channel, whose temporal mean goes through a sigmoid": a spiking last layer would
bound the mean to [-1, 1] and the sigmoid to (0.27, 0.73)). The f decoder has one output channel
(the foreground logit), the d decoder two (ds, de; the model makes them non-negative with softplus).
Convolutions are 'same'-padded; spikes on padded clips are zeroed after every neuron so that they
never leak into real clips through the kernel. The decoder is feed-forward and has no synaptic delay, so
:meth:`SpikingConvDecoder.run` takes all Tc timesteps at once, layer by layer: each convolution runs once
on the Tc x B inputs and only the IF neurons step through time (the same spikes as Tc calls of
:meth:`SpikingConvDecoder.forward`, with one convolution call per layer instead of Tc). In steady-state
mode the IF neurons return
clamp(I / Vth, -1, 1) and the decoder is its equilibrium map; the temporal mean of the linear
read-out is then the read-out of the mean rate.
"""

from __future__ import annotations

import torch
from torch import nn

from spiking.neuron import TernaryLIF
from spiking.quant import make_conv1d


class SpikingConvDecoder(nn.Module):
    """``layers`` convolutions of kernel ``kernel``; IF neurons after all but the last.

    Neurons (the activity probes' names): ``neurons.{j}`` after ``convs.{j}``.
    """

    def __init__(self, hidden: int, out_channels: int, layers: int, kernel: int, threshold: float, binary: bool):
        super().__init__()
        self.convs = nn.ModuleList(
            make_conv1d(hidden, hidden if j < layers - 1 else out_channels, kernel, binary) for j in range(layers)
        )
        self.neurons = nn.ModuleList(TernaryLIF(gamma=1.0, threshold=threshold) for _ in range(layers - 1))

    def forward(self, spikes: torch.Tensor, video_mask: torch.Tensor) -> torch.Tensor:
        """Video-token spikes (B, Lv, D), real clips (B, Lv) -> this timestep's read-out (B, Lv, C)."""
        keep = video_mask[:, None, :].to(spikes.dtype)  # (B, 1, Lv)
        h = spikes.transpose(1, 2) * keep  # (B, D, Lv)
        for conv, neuron in zip(self.convs[:-1], self.neurons):
            h = neuron(conv(h)) * keep  # (B, D, Lv)
        return self.convs[-1](h).transpose(1, 2)  # (B, Lv, C)

    def run(self, spikes: torch.Tensor, video_mask: torch.Tensor) -> torch.Tensor:
        """Video-token spikes of every timestep (T, B, Lv, D), real clips (B, Lv) -> read-outs (T, B, Lv, C).

        Layer j's currents at every step are known once layer j - 1 has run every step, so each convolution
        sees the T x B inputs in one call; the neurons, reset first, then take the T steps in order.
        """
        steps, batch = spikes.shape[:2]
        for neuron in self.neurons:
            neuron.reset_state()  # from rest
        keep = video_mask[:, None, :].to(spikes.dtype)  # (B, 1, Lv)
        h = spikes.transpose(2, 3) * keep  # (T, B, D, Lv)
        for conv, neuron in zip(self.convs[:-1], self.neurons):
            current = conv(h.flatten(0, 1)).unflatten(0, (steps, batch))  # (T, B, D, Lv)
            h = torch.stack([neuron(current[t]) for t in range(steps)]) * keep  # (T, B, D, Lv)
        return self.convs[-1](h.flatten(0, 1)).unflatten(0, (steps, batch)).transpose(2, 3)  # (T, B, Lv, C)
