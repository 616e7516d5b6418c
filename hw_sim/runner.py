"""The Lava network of an exported SpikingVTG bundle, compiled once and run query after query.

Processes (N encoder layers -> N + 3 OS processes)::

    Injector --features--> InputSFG --s--> EncoderLayer 0 --> ... --> EncoderLayer N-1 --+--> DecoderReadout
       (host)   (also to every process)  ^                                                |
                                         +------------------ a_in (SFG feedback) ---------+

One model timestep is one Lava step (hw_sim/processes/base.py explains why no phase cycle is needed);
a query is Tc steps. The host sends each query's packed features through Lava's ``Injector`` (Var
transfers go element by element and would cost seconds), then reads the read-outs, SFG's score and
gate, and the spike counts from Vars. With ``record=True`` every process also sends its spikes each
step to a Lava ``Extractor`` (one more OS process each), for the spike-by-spike comparison.

The runtime is stopped on success, on error and on Ctrl-C or SIGTERM: :class:`LavaSimulation` is a
context manager. The Lava children never see SIGINT (it is blocked while they are forked and they
inherit the mask), so the parent alone handles it. A runtime interrupted in the middle of a run
cannot be stopped (``stop()`` waits forever), so inside the context SIGINT and SIGTERM are held until
the current query's steps are done (under a second), then raised as ``KeyboardInterrupt`` or
:class:`Terminated`; a second Ctrl-C raises at once.

What Lava cannot stop, the runner ends by force (:meth:`LavaSimulation._kill`: SIGKILL to every Lava
OS process, then the shared-memory manager's shutdown, which unlinks every segment):

* a run that does not finish within ``deadline_s`` (a process model that failed in its own OS process
  leaves the runtime waiting forever): SIGALRM interrupts the wait and raises :class:`LavaTimeout`;
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
from hw_sim.processes.decoder_readout.process import DecoderReadout, decoder_populations
from hw_sim.processes.encoder_layer.process import POPULATIONS, EncoderLayer
from hw_sim.processes.input_sfg.process import InputSFG
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

        with LavaSimulation(bundle, "fixed", tc=4, max_video=40, max_text=12) as sim:
            result = sim.run_query(video, text)     # (Lv, Dv), (Lq, Dt) real features
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
    ) -> None:
        from lava.proc.io.extractor import Extractor
        from lava.proc.io.injector import Injector

        self.bundle, self.precision, self.tc, self.record = bundle, precision, tc, record
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
        }
        self.injector = Injector(shape=(packet,), buffer_size=tc)
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
        if record:
            for process in compute:
                extractor = Extractor(shape=process.record.shape, buffer_size=tc)
                process.record.connect(extractor.in_port)
                self.extractors.append(extractor)
        self.num_processes = 1 + len(compute) + len(self.extractors)
        self.compile_s: float | None = None
        self._started = False
        self._broken = False  # a Lava call was interrupted midway: the runtime can only be killed
        self._previous_handlers: dict[int, Any] = {}
        self._pending: int | None = None  # a signal held until the running query's steps are done

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
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return call(*args, **kwargs)
        except BaseException:
            self._broken = True
            raise
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def _start(self, packet: np.ndarray) -> None:
        """Compile, fork the OS processes (with SIGINT blocked, so only this process handles Ctrl-C)
        and run the first query at once: a runtime created but never started cannot be stopped."""
        from lava.magma.core.run_conditions import RunSteps
        from lava.magma.core.run_configs import Loihi2SimCfg
        from lava.proc.io.extractor import Extractor, PyLoihiExtractorModel
        from lava.proc.io.injector import Injector, PyLoihiInjectorModel

        # Lava's own I/O models carry no tag: name them, so select_tag applies to ours only
        untagged = {Injector: PyLoihiInjectorModel, Extractor: PyLoihiExtractorModel}
        begin = time.perf_counter()
        run_config = Loihi2SimCfg(select_tag=SELECT_TAG[self.precision], exception_proc_model_map=untagged)
        executable = self.input.compile(run_config)
        # the children inherit a blocked SIGINT; a Ctrl-C meanwhile waits and reaches this process after
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self._started = True  # from here on there may be OS processes to stop
            self._within(
                self.deadline_s, "starting the Lava processes", self.input.create_runtime, executable=executable
            )
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        self._send(packet)
        self.compile_s = time.perf_counter() - begin
        self._within(self.deadline_s, "the first query", self.input.run, condition=RunSteps(num_steps=self.tc))

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
        if self.precision == "fixed":
            video, text = fp.quantize_features(video), fp.quantize_features(text)
        padded_video = np.zeros((self.max_video, self.video_dim))
        padded_video[:n_video] = video
        padded_text = np.zeros((self.max_text, self.text_dim))
        padded_text[:n_text] = text
        return np.concatenate([[n_video, n_text], padded_video.ravel(), padded_text.ravel()])

    def _send(self, packet: np.ndarray) -> None:
        for _ in range(self.tc):  # one packet per step: the processes read it at the query's first step
            self.injector.send(packet)

    def run_query(self, video: np.ndarray, text: np.ndarray) -> QueryResult:
        """Simulate one query, features video (Lv, Dv) and text (Lq, Dt) of its real clips and tokens."""
        from lava.magma.core.run_conditions import RunSteps

        packet = self._pack(np.asarray(video, np.float64), np.asarray(text, np.float64))
        if not self._started:
            self._start(packet)
        else:
            self._send(packet)
            self._within(self.deadline_s, "a query", self.input.run, condition=RunSteps(num_steps=self.tc))
        self._raise_pending()
        return self._collect(video.shape[0], text.shape[0])

    def _collect(self, n_video: int, n_text: int) -> QueryResult:
        arch = self.bundle.architecture
        foreground = self.decoder.foreground.get()[:n_video, 0]
        boundary = self.decoder.boundary.get()[:n_video]
        score, gate = self.input.score.get()[:n_video], self.input.gate.get()[:n_video]
        if self.precision == "fixed":
            scalars = self.parameters[1]
            foreground = foreground * scalars[f"decoder.f.{arch['f_layers'] - 1}.readout_scale"]
            boundary = boundary * scalars[f"decoder.d.{arch['d_layers'] - 1}.readout_scale"]
            score, gate = score / 2**fp.COSINE_FRAC_BITS, gate / 2**fp.GATE_FRAC_BITS
        names = self.population_names()
        counts = np.concatenate([p.counts.get() for p in (self.input, *self.layers, self.decoder)], axis=1)
        spikes = None
        if self.record:
            spikes = {}
            rows = np.r_[0:n_video, self.max_video : self.max_video + n_text]  # real tokens, video first
            recorded = [np.stack([e.receive() for _ in range(self.tc)]) for e in self.extractors]  # (Tc, P, L, W)
            for process, (record, populations) in enumerate(zip(recorded, self.record_layout())):
                for p, name in enumerate(populations):
                    width = self._width(name)
                    tokens = rows[:n_video] if process == len(recorded) - 1 else rows
                    spikes[name] = record[:, p][:, tokens, :width].astype(np.int8)
        return QueryResult(
            foreground_logits=foreground / self.tc,
            boundary=torch.nn.functional.softplus(torch.from_numpy(boundary / self.tc)).numpy(),
            score=score,
            gate=gate,
            counts={name: counts[:, i].astype(np.int64) for i, name in enumerate(names)},
            spikes=spikes,
        )

    # ----------------------------------------------------------------------------------------------
    # Population names

    def record_layout(self) -> list[list[str]]:
        """Per process (input, layers, decoder), the populations in its record."""
        arch = self.bundle.architecture
        layers = [[f"layer{i}.{name}" for name in POPULATIONS] for i in range(arch["num_layers"])]
        return [["input"], *layers, [f"decoder.{name}" for name in decoder_populations(arch)]]

    def population_names(self) -> list[str]:
        """The columns of the concatenated ``counts`` Vars."""
        layout = self.record_layout()
        return [*layout[0], *[name for layer in layout[1:-1] for name in layer], "decoder.input", *layout[-1]]

    def _width(self, population: str) -> int:
        arch = self.bundle.architecture
        return arch["ffn_dim"] if population.endswith(".int") else arch["hidden_dim"]
