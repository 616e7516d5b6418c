"""Damaged and hostile Lava bundles end before Lava starts; a failing, hanging or killed Lava run leaves nothing.

Every damaged bundle must end ``vtg simulate`` with exit status 2 and one line naming the bundle file and
field, and leave no OS process or shared-memory segment behind (counted before and after). A run whose
process models fail inside Lava's own OS processes (where Lava's runtime waits forever) is stopped at
its deadline; the Lava children of a SIGKILLed ``vtg simulate`` die with it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from export.bundle import read_bundle
from export.lava_target import export
from hw_sim.runner import LavaTimeout
from hw_sim.simulation import load_queries, simulate_split
from vtg.cli import main as vtg_main
from vtg.errors import UserError
from vtg.models import build_model

TC = 3
ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------------------
# What is left behind


def descendants(pid: int) -> set[int]:
    """Live processes below ``pid``; multiprocessing's resource tracker (this process's) excepted."""
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for task in os.listdir(f"/proc/{parent}/task") if os.path.isdir(f"/proc/{parent}/task") else ():
            try:
                with open(f"/proc/{parent}/task/{task}/children") as handle:
                    children = [int(child) for child in handle.read().split()]
            except FileNotFoundError:
                continue
            for child in children:
                if alive(child) and b"resource_tracker" not in cmdline(child):
                    found.add(child)
                    todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return b""


def segments() -> set[str]:
    """Python's shared-memory segments (Lava's channels), by name."""
    return {name for name in os.listdir("/dev/shm") if name.startswith("psm_")}


def settled(check: Callable[[], bool], seconds: float = 15.0) -> bool:
    """Whether ``check()`` becomes true within ``seconds`` (processes take a moment to be reaped)."""
    end = time.monotonic() + seconds
    while not check():
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True


# ------------------------------------------------------------------------------------------------
# Damaged bundles


def damaged(bundle: Path, target: Path, edit: Callable[[dict, Path], None]) -> Path:
    """A copy of ``bundle`` whose manifest (and files) ``edit(manifest, folder)`` changed."""
    shutil.copytree(bundle, target)
    manifest = json.loads((target / "manifest.json").read_text())
    edit(manifest, target)
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


def more_layers(m, _):
    m["architecture"]["num_layers"] = m["model_config"]["num_layers"] = 3


def other_hidden(m, _):
    m["architecture"]["hidden_dim"] = m["model_config"]["hidden_dim"] = 32


def heads_in_architecture_only(m, _):
    m["architecture"]["num_heads"] = 4


def missing_scalar(m, _):
    del m["fixed_point"]["scalars"]["layer1.k.threshold"]


def missing_firing_point(m, _):
    del m["fixed_point"]["scalars"]["layer1.k.fire"]


def firing_point_off_by_one(m, _):
    m["fixed_point"]["scalars"]["layer0.so.fire"] -= 1


def fire_ratio_without_its_firing_points(m, _):
    """fire_ratio 0.5 in both model_config and float scalars, the integer firing points left at Theta."""
    m["float"]["fire_ratio"] = m["model_config"]["fire_ratio"] = 0.5


def fire_ratio_in_float_only(m, _):
    m["float"]["fire_ratio"] = 0.5


def version_1_bundle(m, _):
    """A bundle written before the firing point: format 1, no fire scalars, no float fire_ratio."""
    m["format_version"] = 1
    del m["float"]["fire_ratio"], m["model_config"]["fire_ratio"]
    for name in [name for name in m["fixed_point"]["scalars"] if name.endswith(".fire")]:
        del m["fixed_point"]["scalars"][name]


def version_2_bundle(m, _):
    """A bundle written before the host input layers: format 2, no architecture.host_input_layers."""
    m["format_version"] = 2
    del m["architecture"]["host_input_layers"]


def version_3_bundle(m, _):
    """A bundle written before the decoders' warm-up: format 3, no architecture.decoder_warmup."""
    m["format_version"] = 3
    del m["architecture"]["decoder_warmup"]


def version_4_bundle(m, _):
    """A bundle written when the warm-up's steps were rounded down: format 4, the same fields."""
    m["format_version"] = 4


def version_5_bundle(m, _):
    """A bundle written before rate-driven currents: format 5, without architecture.rate_driven."""
    m["format_version"] = 5
    del m["architecture"]["rate_driven"]


def bit_width(m, _):
    m["fixed_point"]["formats"]["state_bits"] = 16


def threshold_out_of_state(m, _):
    m["fixed_point"]["scalars"]["layer0.so.threshold"] = 2**40


def climbing_path(m, folder):
    entry = m["tensors"]["fixed/layer0.k.sign"]
    shutil.copy(folder / entry["file"], folder.parent / "outside.npy")  # the same bytes, outside the bundle
    entry["file"] = "../outside.npy"


def absolute_path(m, folder):
    m["tensors"]["fixed/layer0.k.sign"]["file"] = str(folder / "fixed" / "layer0.k.sign.npy")


def replaced_tensor(m, folder):
    """Another array in the file, its sha256 updated: the shape no longer fits the architecture."""
    entry = m["tensors"]["fixed/layer0.int.sign"]
    np.save(folder / entry["file"], np.ones((3, 3), np.int8))
    entry["sha256"] = sha256_of(folder / entry["file"])


def list_for_map(m, _):
    m["fixed_point"]["scalars"] = list(m["fixed_point"]["scalars"].items())


def list_for_entry(m, _):
    m["tensors"]["float/sfg.pool"] = ["float/sfg.pool.npy", [16], "float64"]


def string_tc(m, _):
    m["tc"] = "3"


def no_sha256(m, _):
    del m["tensors"]["float/layer1.out.bias"]["sha256"]


def extra_tensor(m, _):
    m["tensors"]["fixed/layer2.q.sign"] = dict(m["tensors"]["fixed/layer0.q.sign"])


def width_left_out(m, _):
    del m["model_config"]["hidden_dim"]  # the reference would be built at the default width


def leak_in_float_only(m, _):
    m["float"]["leak"] = 0.5


def config_value_of_another_kind(m, _):
    m["model_config"]["leak"] = "fast"


def archive_for_array(m, folder):
    entry = m["tensors"]["float/sfg.pool"]
    np.savez(folder / "pool.npz", weights=np.zeros(16))
    (folder / "pool.npz").replace(folder / entry["file"])
    entry["sha256"] = sha256_of(folder / entry["file"])


def nul_in_file_name(m, _):
    m["tensors"]["float/sfg.pool"]["file"] = "float/sfg\u0000.npy"


def sha256_of(path: Path) -> str:
    from vtg.digest import sha256

    return sha256(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (more_layers, "field 'fixed_point.scalars.layer2.q.threshold': missing"),
        (other_hidden, "field 'tensors.fixed/decoder.d.0.bias': shape [16] int64, the architecture needs [32] int64"),
        (heads_in_architecture_only, "field 'architecture.num_heads': 4, but model_config.num_heads is 2"),
        (missing_scalar, "field 'fixed_point.scalars.layer1.k.threshold': missing"),
        (missing_firing_point, "field 'fixed_point.scalars.layer1.k.fire': missing"),
        (firing_point_off_by_one, "field 'fixed_point.scalars.layer0.so.fire': "),
        (fire_ratio_without_its_firing_points, "field 'fixed_point.scalars.input.fire': 4096, but threshold 4096 at"),
        (fire_ratio_in_float_only, "field 'float.fire_ratio': 0.5, but model_config.fire_ratio is 1.0"),
        (version_1_bundle, "this toolkit reads version 6, got 1; re-export the checkpoint with vtg-export"),
        (version_2_bundle, "this toolkit reads version 6, got 2; re-export the checkpoint with vtg-export"),
        (version_3_bundle, "this toolkit reads version 6, got 3; re-export the checkpoint with vtg-export"),
        (version_4_bundle, "this toolkit reads version 6, got 4; re-export the checkpoint with vtg-export"),
        (version_5_bundle, "this toolkit reads version 6, got 5; re-export the checkpoint with vtg-export"),
        (bit_width, "field 'fixed_point.formats.state_bits': 16, this toolkit's integer model uses 24"),
        (
            threshold_out_of_state,
            "field 'fixed_point.scalars.layer0.so.threshold': expected an integer in [1, 8388607]",
        ),
        (climbing_path, "field 'tensors.fixed/layer0.k.sign.file': '../outside.npy' is not a file inside the bundle"),
        (absolute_path, "field 'tensors.fixed/layer0.k.sign.file'"),
        (replaced_tensor, "layer0.int.sign.npy: shape [3, 3] int8, manifest says [16, 16] int8"),
        (list_for_map, "field 'fixed_point.scalars': expected a mapping, got list"),
        (list_for_entry, "field 'tensors.float/sfg.pool': expected a mapping, got list"),
        (string_tc, "field 'tc': expected an integer, got '3'"),
        (no_sha256, "field 'tensors.float/layer1.out.bias.sha256': expected a str, got None"),
        (extra_tensor, "field 'tensors.fixed/layer2.q.sign': not a weight of this architecture"),
        (width_left_out, "field 'architecture.hidden_dim': 16, but model_config.hidden_dim is"),
        (leak_in_float_only, "field 'float.leak': 0.5, but model_config.leak is 0.99"),
        (config_value_of_another_kind, "field 'model_config.leak'"),
        (archive_for_array, "sfg.pool.npy: an .npz archive, not the .npy array the manifest lists"),
        (nul_in_file_name, "field 'tensors.float/sfg.pool.file'"),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_damaged_bundle_is_one_line_and_leaves_nothing(random_bundle, tmp_path, capsys, edit, message):
    data, bundle = random_bundle
    broken = damaged(bundle, tmp_path / "b", edit)
    processes, shm = descendants(os.getpid()), segments()
    code = vtg_main(["simulate", "--bundle", str(broken), "--data", str(data), "--out", str(tmp_path / "sim")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert str(broken) in err and message in err, err
    assert descendants(os.getpid()) <= processes and segments() <= shm
    assert not (tmp_path / "sim").exists()


def test_pickled_weight_file_is_refused_without_running_it(random_bundle, tmp_path, capsys):
    """A weight .npy that is a pickle (its sha256 in the manifest updated) is refused; its payload never runs."""
    data, bundle = random_bundle
    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    def pickled(m, folder):
        entry = m["tensors"]["fixed/layer0.q.bias"]
        np.save(folder / entry["file"], np.array([Payload()], dtype=object), allow_pickle=True)
        entry["sha256"] = sha256_of(folder / entry["file"])

    broken = damaged(bundle, tmp_path / "b", pickled)
    code = vtg_main(["simulate", "--bundle", str(broken), "--data", str(data)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "layer0.q.bias.npy: not a readable .npy" in err, err
    assert not marker.exists()


def test_features_that_do_not_fit_the_bundle(random_bundle, tmp_path, capsys):
    data, _ = random_bundle
    torch.manual_seed(0)
    config = {"variant": "1bit_nf", "hidden_dim": 8, "num_layers": 1, "num_heads": 2, "ffn_dim": 8, "tc": TC}
    dims = {"video_dim": 12, "text_dim": 16, "video_levels": 1, "text_levels": 1}
    export(
        build_model("spikingvtg", config, dims),
        {},
        argparse.Namespace(checkpoint=Path("x"), out=tmp_path / "b", tc=None, max_clips=64),
    )
    code = vtg_main(["simulate", "--bundle", str(tmp_path / "b"), "--data", str(data)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "expects video_dim 12" in err, err


def test_every_reader_validates(random_bundle, tmp_path):
    """read_bundle is the one reader: the references and benchmarks get the same checks."""
    _, bundle = random_bundle
    broken = damaged(bundle, tmp_path / "b", missing_scalar)
    with pytest.raises(UserError, match="field 'fixed_point.scalars.layer1.k.threshold': missing"):
        read_bundle(broken)


# ------------------------------------------------------------------------------------------------
# Lava runs that fail, hang or lose their parent


def failing_lif(self, u, current, population):
    raise RuntimeError("injected failure inside a Lava process model")


def test_a_run_that_fails_inside_lava_is_stopped_at_its_deadline(random_bundle, monkeypatch):
    """A process model that raises in its own OS process leaves Lava's runtime waiting forever: the
    deadline ends it, every Lava process is killed and every segment unlinked."""
    data, bundle = random_bundle
    _, queries = load_queries(str(data), "val", 2, read_bundle(bundle))
    monkeypatch.setattr("hw_sim.arithmetic.FixedPoint.lif", failing_lif)  # the forked children inherit it
    processes, shm = descendants(os.getpid()), segments()
    with pytest.raises(LavaTimeout, match="took more than 3 s; the Lava simulation was stopped"):
        simulate_split(read_bundle(bundle), queries, "fixed", TC, progress=False, deadline_s=3)
    assert settled(lambda: descendants(os.getpid()) <= processes), descendants(os.getpid()) - processes
    assert settled(lambda: segments() <= shm), segments() - shm


def test_sigkill_of_vtg_simulate_leaves_no_process_or_segment(random_bundle, tmp_path):
    """SIGKILL cannot be handled: the Lava children must die with their parent on their own, and the
    resource tracker then unlinks their segments."""
    data, bundle = random_bundle
    shm = segments()
    command = [sys.executable, "-m", "vtg.cli", "simulate", "--bundle", str(bundle), "--data", str(data)]
    command += ["--split", "train", "--tc", "400", "--out", str(tmp_path / "sim")]  # long enough to be killed midway
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert settled(lambda: len(descendants(process.pid)) >= 5 and segments() - shm, 120), "Lava never started"
        children, made = descendants(process.pid), segments() - shm
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert settled(lambda: not any(alive(child) for child in children)), [c for c in children if alive(c)]
    assert settled(lambda: not made & segments()), made & segments()


@pytest.mark.parametrize("deadline", ["0", "-5", "nan", "inf", "1e10"])
def test_a_deadline_the_alarm_cannot_take_is_one_line(random_bundle, capsys, deadline):
    data, bundle = random_bundle
    code = vtg_main(["simulate", "--bundle", str(bundle), "--data", str(data), "--deadline", deadline])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "option --deadline" in err[0], err
