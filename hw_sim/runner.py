"""The Lava network of an exported SpikingVTG bundle, compiled once and run query after query.

Processes (N encoder layers -> 2N + 5 OS processes: N + 3 that compute, N + 2 Extractors)::

    Injector --features--> InputSFG --s--> EncoderLayer 0 --> ... --> EncoderLayer N-1 --+--> DecoderReadout
       (host)   (also to every process)  ^                                                |
                                         +------------------ a_in (SFG feedback) ---------+
    InputSFG, every EncoderLayer, DecoderReadout --report--> an Extractor each --> host

One model timestep is one Lava step (hw_sim/processes/base.py explains why no phase cycle is needed);
a run is Tc steps and simulates a batch of B queries side by side (a leading query axis in every
process): the lock-step handshake of each step, the messages between processes and numpy's per-call
cost are paid once for B queries. The host sends the batch's packed features through Lava's
``Injector``, and every process sends each step one flat ``report`` (its spike counts, SFG's score and
gate, the decoders' read-outs, and with ``record=True`` every spike, for the spike-by-spike comparison)
to a Lava ``Extractor`` (one more OS process each), which the host reads in bulk: reading Vars moves
every value in a message of its own (``get`` of a (Lv,) read-out is Lv round trips), which cost more
than the simulation itself. The weights, biases and thresholds are Vars of the processes
(``sim.layers[0].w_k.get()``); the runner never reads them.

The runtime is stopped on success, on error and on Ctrl-C or SIGTERM: :class:`LavaSimulation` is a
context manager. The Lava children never see SIGINT (it is blocked while they are forked and they
inherit the mask), so the parent alone handles it. A runtime interrupted in the middle of a run
cannot be stopped (``stop()`` waits forever), so inside the context SIGINT and SIGTERM are held until
the current run's steps are done and its reports read (a second or so), then raised as
``KeyboardInterrupt`` or :class:`Terminated`; between runs (the runtime paused) and on a second Ctrl-C
they raise at once.

What Lava cannot stop, the runner ends by force (:meth:`LavaSimulation._kill`: SIGKILL to every Lava
OS process, then the shared-memory manager's shutdown, which unlinks every segment):

* a Lava call that does not return within ``deadline_s`` (a process model that failed in its own OS process
  leaves the runtime waiting forever): SIGALRM interrupts the wait and raises :class:`LavaTimeout`. Each
  call has its own deadline: compiling, starting the processes, sending a batch's features, running it,
  reading its reports;
* a run interrupted midway (a second Ctrl-C, an exception inside Lava), and a ``stop()`` that does
  not return within :data:`STOP_DEADLINE_S`.

The Lava children die with this process even when it is SIGKILLed, which no handler of its own can
see: every process forked while a simulation is alive asks the kernel for SIGKILL when its parent
dies (``prctl(PR_SET_PDEATHSIG)``, Linux). With them gone, the multiprocessing resource tracker (a
process that outlives them) unlinks the shared-memory segments they leave.
"""

from __future__ import annotations

import ctypes
import dataclasses
import multiprocessing
import os
import signal
import sys
import time
from typing import Any

import numpy as np
import torch

from export import fixed_point as fp
from export.bundle import Bundle
from hw_sim.processes.decoder_readout.process import DecoderReadout
from hw_sim.processes.encoder_layer.process import EncoderLayer
from hw_sim.processes.input_sfg.process import InputSFG
from spiking.config import decoder_read_steps
from spiking.populations import ENCODER_POPULATIONS, decoder_populations, readout_convolutions
from vtg.errors import UserError

SELECT_TAG = {"fixed": "fixed_pt", "float": "floating_pt"}
DEADLINE_S = 300.0  # default limit of one Lava call: compiling and starting with the first query, or a query
STOP_DEADLINE_S = 10.0  # a graceful stop takes well under a second; beyond this the processes are killed
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class Terminated(SystemExit):
    """SIGTERM arrived while the simulation ran: exit with status 128 + 15, once the runtime is stopped."""


class LavaTimeout(UserError):
    """A Lava call did not return within its deadline; the simulation was stopped by force."""


# -------------------------------------------------------------------------------------------------
# Children that do not outlive this process

_alive_simulations = 0  # LavaSimulation objects inside their context; forks then are Lava's


def _die_with_parent() -> None:
    """In a freshly forked child: SIGKILL when the parent dies (set only while a simulation is alive)."""
    if not _alive_simulations or not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent or parent == 1:  # the parent died before the request: go now
        os._exit(1)


os.register_at_fork(after_in_child=_die_with_parent)


@dataclasses.dataclass
class QueryResult:
    """One query's outputs (real clips only) and spikes."""

    foreground_logits: np.ndarray  # (Lv,)
    boundary: np.ndarray  # (Lv, 2) after softplus, clip units
    score: np.ndarray  # (Lv,) F_s after the last step
    gate: np.ndarray  # (Lv,) its min-max normalisation
    counts: dict[str, np.ndarray]  # population -> (Tc,) sum |s| on real tokens
    spikes: dict[str, np.ndarray] | None  # population -> (Tc, real tokens, width) when recording


class LavaSimulation:
    """Build, compile and run the Lava network of ``bundle`` in ``precision`` ("fixed" or "float").

    Example::

        with LavaSimulation(bundle, "fixed", tc=4, max_video=40, max_text=12, batch=8) as sim:
            result = sim.run_query(video, text)     # (Lv, Dv), (Lq, Dt) real features
            results = sim.run_batch([(video, text), ...])   # up to 8 queries in one run of Tc steps
    """

    def __init__(
        self,
        bundle: Bundle,
        precision: str,
        tc: int,
        max_video: int,
        max_text: int,
        record: bool = False,
        deadline_s: float = DEADLINE_S,
        batch: int = 1,
    ) -> None:
        from lava.proc.io.extractor import Extractor
        from lava.proc.io.injector import Injector

        if batch < 1:
            raise UserError(f"a batch of {batch} queries: at least 1")
        self.bundle, self.precision, self.tc, self.record, self.batch = bundle, precision, tc, record, batch
        self.deadline_s = deadline_s
        self.max_video, self.max_text = max_video, max_text
        arch = bundle.architecture
        if max_video > arch["max_clips"]:
            raise UserError(
                f"{bundle.path}: videos of {max_video} clips, the bundle accepts at most {arch['max_clips']}"
            )
        self.parameters = bundle.parameters(precision)
        self.video_dim, self.text_dim = arch["video_dim"], arch["text_dim"]
        packet = 2 + max_video * self.video_dim + max_text * self.text_dim
        common = {
            "parameters": self.parameters,
            "tc": tc,
            "max_video": max_video,
            "max_text": max_text,
            "record": record,
            "batch": batch,
        }
        self.injector = Injector(shape=(batch, packet), buffer_size=tc)
        self.input = InputSFG(**common)
        self.layers = [EncoderLayer(index=i, **common) for i in range(arch["num_layers"])]
        self.decoder = DecoderReadout(**common)
        compute = [self.input, *self.layers, self.decoder]
        for process in compute:
            self.injector.out_port.connect(process.features)
        self.input.s_out.connect(self.layers[0].s_in)
        for before, after in zip(self.layers, self.layers[1:]):
            before.s_out.connect(after.s_in)
        self.layers[-1].s_out.connect([self.input.a_in, self.decoder.s_in])
        self.extractors = []
        for process in compute:  # the buffer holds a run's Tc reports: no process waits for the host
            extractor = Extractor(shape=process.report.shape, buffer_size=tc)
            process.report.connect(extractor.in_port)
            self.extractors.append(extractor)
        self.num_processes = 1 + len(compute) + len(self.extractors)
        self.compile_s: float | None = None
        self.run_s = 0.0  # time spent in run_batch, compiling and starting included
        self._started = False
        self._broken = False  # a Lava call was interrupted midway: the runtime can only be killed
        self._previous_handlers: dict[int, Any] = {}
        self._pending: int | None = None  # a signal held until the running batch's steps are done
        self._busy = False  # inside a Lava call or reading its reports: signals are held

    # ----------------------------------------------------------------------------------------------
    # Life cycle

    def __enter__(self) -> LavaSimulation:
        global _alive_simulations
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous_handlers[signum] = signal.signal(signum, self._hold)
        _alive_simulations += 1
        return self

    def __exit__(self, *exc) -> None:
        global _alive_simulations
        try:
            self.stop()
        finally:
            _alive_simulations -= 1
            for signum, handler in self._previous_handlers.items():
                signal.signal(signum, handler)
            self._previous_handlers = {}

    def _hold(self, signum: int, frame: Any) -> None:
        if self._pending == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt  # pressed twice: do not wait
        self._pending = signum
        if not self._busy:  # the runtime is paused between runs: a graceful stop is possible now
            self._raise_pending()

    def _raise_pending(self) -> None:
        """Raise the signal held during the last run, now that the runtime is paused between queries."""
        if self._pending is not None:
            signum, self._pending = self._pending, None
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise Terminated(128 + signum)

    def stop(self) -> None:
        """Stop the runtime and its OS processes (a no-op when it never started): gracefully when the
        runtime is between queries, by force when a call was interrupted or the stop itself hangs."""
        if not self._started:
            return
        self._started = False
        if not self._broken:
            try:
                self._within(STOP_DEADLINE_S, "stopping the Lava runtime", self.input.stop)
                return
            except BaseException:
                self._kill()
                raise
        self._kill()

    def _kill(self) -> None:
        """Force: SIGKILL every Lava OS process, then shut the shared-memory manager down, which unlinks
        every segment (it is a process of its own, not one of the killed actors)."""
        runtime = self.input.runtime
        infrastructure = getattr(runtime, "_messaging_infrastructure", None)
        if infrastructure is None:
            return
        for actor in infrastructure.actors:
            if actor.pid is not None and actor.exitcode is None:
                actor.kill()
        for actor in infrastructure.actors:
            multiprocessing.Process.join(actor, timeout=STOP_DEADLINE_S)  # Lava's join waits without a limit
        if infrastructure.smm is not None:
            infrastructure.smm.shutdown()

    def _within(self, seconds: float, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        """``call(*args, **kwargs)``, interrupted by SIGALRM after ``seconds``: :class:`LavaTimeout`.

        Any exception out of the call leaves the runtime midway (``_broken``): only :meth:`_kill` ends it.
        """

        def expire(signum: int, frame: Any) -> None:
            raise LavaTimeout(
                f"{self.bundle.path}: {what} took more than {seconds:g} s; the Lava simulation was stopped"
            )

        previous = signal.signal(signal.SIGALRM, expire)
        busy, self._busy = self._busy, True
        try:
            signal.setitimer(signal.ITIMER_REAL, seconds)
            return call(*args, **kwargs)
        except BaseException:
            self._broken = True
            raise
        finally:
            self._busy = busy
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def _start(self, packet: np.ndarray) -> None:
        """Compile, fork the OS processes (with SIGINT blocked, so only this process handles Ctrl-C)
        and run the first batch at once: a runtime created but never started cannot be stopped."""
        begin = time.perf_counter()
        busy, self._busy = self._busy, True  # a signal now waits: a runtime created but not run cannot stop
        try:
            self._compile_and_run_first(packet, begin)
        finally:
            self._busy = busy

    def _compile_and_run_first(self, packet: np.ndarray, begin: float) -> None:
        from lava.magma.core.run_conditions import RunSteps
        from lava.magma.core.run_configs import Loihi2SimCfg
        from lava.proc.io.extractor import Extractor, PyLoihiExtractorModel
        from lava.proc.io.injector import Injector, PyLoihiInjectorModel

        # Lava's own I/O models carry no tag: name them, so select_tag applies to ours only
        untagged = {Injector: PyLoihiInjectorModel, Extractor: PyLoihiExtractorModel}
        run_config = Loihi2SimCfg(select_tag=SELECT_TAG[self.precision], exception_proc_model_map=untagged)
        executable = self._within(self.deadline_s, "compiling the Lava network", self.input.compile, run_config)
        # the children inherit a blocked SIGINT; a Ctrl-C meanwhile waits and reaches this process after
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self._started = True  # from here on there may be OS processes to stop
            self._within(
                self.deadline_s, "starting the Lava processes", self.input.create_runtime, executable=executable
            )
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        self._within(self.deadline_s, "sending the features", self._send, packet)
        self.compile_s = time.perf_counter() - begin
        self._within(self.deadline_s, "the first batch", self.input.run, condition=RunSteps(num_steps=self.tc))

    # ----------------------------------------------------------------------------------------------
    # Queries

    def _pack(self, video: np.ndarray, text: np.ndarray) -> np.ndarray:
        """[n_video, n_text, video padded (Lv_max, Dv), text padded (Lq_max, Dt)], quantised in fixed point."""
        n_video, n_text = video.shape[0], text.shape[0]
        if not 1 <= n_video <= self.max_video or not 1 <= n_text <= self.max_text:
            raise UserError(
                f"query of {n_video} clips and {n_text} tokens: the network takes 1..{self.max_video} clips "
                f"and 1..{self.max_text} tokens"
            )
        if video.shape[1] != self.video_dim or text.shape[1] != self.text_dim:
            raise UserError(
                f"{self.bundle.path}: features of size video {video.shape[1]}, text {text.shape[1]}; the bundle "
                f"expects video_dim {self.video_dim}, text_dim {self.text_dim}"
            )
        video, text = self.bundle.host_input(video, text)  # (Lv, Dv), (Lq, Dt) what enters the network
        if self.precision == "fixed":
            video, text = fp.quantize_features(video), fp.quantize_features(text)
        padded_video = np.zeros((self.max_video, self.video_dim))
        padded_video[:n_video] = video
        padded_text = np.zeros((self.max_text, self.text_dim))
        padded_text[:n_text] = text
        return np.concatenate([[n_video, n_text], padded_video.ravel(), padded_text.ravel()])

    def _send(self, packets: np.ndarray) -> None:
        for _ in range(self.tc):  # one message per step: the processes read it at the run's first step
            self.injector.send(packets)

    def run_query(self, video: np.ndarray, text: np.ndarray) -> QueryResult:
        """Simulate one query, features video (Lv, Dv) and text (Lq, Dt) of its real clips and tokens."""
        return self.run_batch([(video, text)])[0]

    def run_batch(self, queries: list[tuple[np.ndarray, np.ndarray]]) -> list[QueryResult]:
        """Simulate 1..B queries (video (Lv, Dv), text (Lq, Dt) real features each) in one run of Tc
        steps. A batch of fewer than B fills its other rows with its last query, whose results are dropped."""
        from lava.magma.core.run_conditions import RunSteps

        if not 1 <= len(queries) <= self.batch:
            raise UserError(f"{len(queries)} queries in one run: the network takes 1..{self.batch}")
        begin = time.perf_counter()
        packets = [self._pack(np.asarray(v, np.float64), np.asarray(t, np.float64)) for v, t in queries]
        packets += packets[-1:] * (self.batch - len(packets))
        if not self._started:
            self._start(np.stack(packets))
        else:
            self._within(self.deadline_s, "sending the features", self._send, np.stack(packets))
            self._within(self.deadline_s, "a batch of queries", self.input.run, condition=RunSteps(num_steps=self.tc))
        reports = self._within(self.deadline_s, "reading the reports", self._receive)
        results = [self._collect(reports, b, v.shape[0], t.shape[0]) for b, (v, t) in enumerate(queries)]
        self.run_s += time.perf_counter() - begin
        self._raise_pending()
        return results

    def _receive(self) -> list[np.ndarray]:
        """Each process's Tc reports of the run just done, (Tc, report) per process."""
        return [np.stack([e.receive() for _ in range(self.tc)]) for e in self.extractors]

    def _collect(self, reports: list[np.ndarray], b: int, n_video: int, n_text: int) -> QueryResult:
        """Query ``b`` of the batch from the processes' reports (layouts: the processes' docstrings)."""
        arch, batch, lv = self.bundle.architecture, self.batch, self.max_video
        layout = self.record_layout()
        counted = [len(layout[0]), *(len(p) for p in layout[1:-1]), 1 + len(layout[-1])]
        counts = []
        for report, width in zip(reports, counted):
            counts.append(report[:, : batch * width].reshape(self.tc, batch, width)[:, b])
        sfg = reports[0][-1, batch * counted[0] : batch * (counted[0] + 2 * lv)].reshape(2, batch, lv)[:, b]
        score, gate = sfg[0][:n_video], sfg[1][:n_video]
        begin = batch * counted[-1]
        readout = reports[-1][-1, begin : begin + 3 * batch * lv]
        foreground = readout[: batch * lv].reshape(batch, lv)[b, :n_video]
        boundary = readout[batch * lv :].reshape(batch, lv, 2)[b, :n_video]
        if self.precision == "fixed":
            scalars = self.parameters[1]
            heads = readout_convolutions(arch)
            foreground = foreground * scalars[f"{heads['f']}.readout_scale"]
            boundary = boundary * scalars[f"{heads['d']}.readout_scale"]
            score, gate = score / 2**fp.COSINE_FRAC_BITS, gate / 2**fp.GATE_FRAC_BITS
        counts = np.concatenate(counts, axis=1)  # (Tc, populations)
        spikes = None
        if self.record:
            spikes = {}
            rows = np.r_[0:n_video, self.max_video : self.max_video + n_text]  # real tokens, video first
            extras = [2 * batch * lv, *([0] * (len(reports) - 2)), 3 * batch * lv]
            for process, (report, populations) in enumerate(zip(reports, layout)):
                start = batch * counted[process] + extras[process]
                shape = self._record_shape(process, len(populations))
                record = report[:, start:].reshape(self.tc, *shape)[:, b]  # (Tc, P, L, W)
                for p, name in enumerate(populations):
                    tokens = rows[:n_video] if process == len(reports) - 1 else rows
                    spikes[name] = record[:, p][:, tokens, : self._width(name)].astype(np.int8)
        read = decoder_read_steps(arch["decoder_warmup"], self.tc)  # steps the decoders summed
        return QueryResult(
            foreground_logits=foreground / read,
            boundary=torch.nn.functional.softplus(torch.from_numpy(boundary / read)).numpy(),
            score=score,
            gate=gate,
            counts={name: counts[:, i].astype(np.int64) for i, name in enumerate(self.population_names())},
            spikes=spikes,
        )

    def _record_shape(self, process: int, populations: int) -> tuple[int, ...]:
        """(B, P, tokens, width) of process ``process``'s recorded spikes (input, layers, decoder)."""
        arch = self.bundle.architecture
        length = self.max_video + self.max_text
        if process == 0:
            return (self.batch, 1, length, arch["hidden_dim"])
        if process == len(self.extractors) - 1:
            return (self.batch, max(1, populations), self.max_video, arch["hidden_dim"])
        return (self.batch, populations, length, max(arch["hidden_dim"], arch["ffn_dim"]))

    # ----------------------------------------------------------------------------------------------
    # Population names

    def record_layout(self) -> list[list[str]]:
        """Per process (input, layers, decoder), the populations in its record."""
        arch = self.bundle.architecture
        layers = [[f"layer{i}.{name}" for name in ENCODER_POPULATIONS] for i in range(arch["num_layers"])]
        return [["input"], *layers, decoder_populations(arch)]

    def population_names(self) -> list[str]:
        """The columns of the concatenated ``counts`` Vars."""
        layout = self.record_layout()
        return [*layout[0], *[name for layer in layout[1:-1] for name in layer], "decoder.input", *layout[-1]]

    def _width(self, population: str) -> int:
        arch = self.bundle.architecture
        return arch["ffn_dim"] if population.endswith(".int") else arch["hidden_dim"]
