"""ONNX networks, op by op: ms per crop by batch, threads and backend, and where the time goes.

For each network (default: PicoDet-S 320, PP-TinyPose 256x192 and 128x96; any catalogue name: PyTorch networks
such as ``rtmpose_m_256x192`` are exported to ONNX in memory with their default initial weights, which cost the
same time as trained ones) and
each (device, backend, threads, batch), the median wall time per crop (per image for
the detector) of ``session.run`` on random input, every configuration timed in
turn in each round (A B C A B C), so that drift on the machine hits them all
alike. ``--profile`` adds ONNX Runtime's own profile of each network at one
batch: the share of kernel time per operator type, and how many nodes of that
type run per call after graph optimisation (ReorderInput / ReorderOutput are the
layout conversions around operators that have no NCHWc kernel).

Run it alone on an idle machine and quote the load averages it prints::

    python benchmarks/bench_onnx.py --threads 1 2 --batches 1 2 4 8 16 32
    python benchmarks/bench_onnx.py --backends onnxruntime openvino --threads 1 --batches 1 8
    python benchmarks/bench_onnx.py --profile --threads 1 --batches 8
    # RTMPose-t/s/m/l next to PP-TinyPose (the README's models table):
    python benchmarks/bench_onnx.py --models rtmpose_t_256x192 rtmpose_s_256x192 rtmpose_m_256x192 \
        rtmpose_l_256x192 pp_tinypose_256x192 pp_tinypose_128x96 --threads 1 2 --batches 1 2 4 8 16 32
    # a GPU beside the CPU, float32 and float16 (benchmarks/bench_device.py runs this for every device found):
    python benchmarks/bench_onnx.py --devices cpu cuda --half --threads 16 --batches 1 8 32 64
    # ORT thread spinning on 2 threads, idle and with 2 busy processes beside it:
    python benchmarks/bench_onnx.py --threads 2 --batches 8 --spinning off on [--load 2]
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _estimator import SHARED
from posekit import catalog
from posekit.runtime import Device, make_session

DEFAULT_MODELS = ("picodet_s_320", "pp_tinypose_256x192", "pp_tinypose_128x96")


def model_source(name: str, models_dir: str | None) -> Path | bytes:
    """What ``make_session`` opens for catalogue model ``name``: its ONNX file, or for a PyTorch network (runtime
    ``torch``) its ONNX export in memory with the constructor's initial weights (the same graph and cost as with
    trained weights)."""
    entry = catalog.get(name)
    if entry.runtime == "onnx":
        return catalog.model_file_path(name, models_dir)
    import torch

    from posekit.models.onnx_export import onnx_bytes
    from posekit.models.registry import create_model

    torch.manual_seed(0)
    spec = entry.spec if entry.task == "pose" else None
    return onnx_bytes(create_model(name), entry.input_size, spec)


def _input(session, batch: int) -> tuple[str, np.ndarray]:
    info = session.get_inputs()[0]
    dims = [d if isinstance(d, int) and d > 0 else None for d in info.shape]
    shape = [batch if i == 0 else d for i, d in enumerate(dims)]
    if any(d is None for d in shape):
        raise ValueError(f"{info.name}: cannot make an input of shape {info.shape}")
    rng = np.random.default_rng(0)
    return info.name, rng.random(shape, dtype=np.float32)


def _burn() -> None:
    """A busy loop: one core's worth of other work (``--load``)."""
    while True:
        pass


def profile_ops(path: Path | bytes, batch: int, threads: int, runs: int = 10) -> list[tuple[str, float, float]]:
    """ONNX Runtime's profile of a model file or its bytes: ``(op type, share of kernel time, nodes per run)``,
    largest first."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.enable_profiling = True
    with tempfile.TemporaryDirectory() as tmp:
        opts.profile_file_prefix = os.path.join(tmp, "profile")
        session = ort.InferenceSession(path if isinstance(path, bytes) else str(path), opts,
                                       providers=["CPUExecutionProvider"])
        name, x = _input(session, batch)
        for _ in range(runs):
            session.run(None, {name: x})
        events = json.loads(Path(session.end_profiling()).read_text())
    time_by_op: collections.Counter = collections.Counter()
    nodes_by_op: collections.Counter = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            op = event["args"]["op_name"]
            time_by_op[op] += event["dur"]
            nodes_by_op[op] += 1
    total = sum(time_by_op.values()) or 1
    return [(op, dur / total, nodes_by_op[op] / runs) for op, dur in time_by_op.most_common()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), help="catalogue names")
    parser.add_argument("--backends", nargs="+", default=["onnxruntime"], choices=("onnxruntime", "openvino"))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32],
                        help="batch sizes of the pose models (detectors: --detector-batches)")
    parser.add_argument("--detector-batches", type=int, nargs="+", default=[1],
                        help="batch sizes (images) of the detectors (default 1; the accelerator plan batches 8)")
    parser.add_argument("--devices", nargs="+", default=["cpu"],
                        help="devices (posekit.runtime.Device: cpu, cuda:0, openvino:GPU, ...); a backend a device "
                             "does not run is skipped")
    parser.add_argument("--half", action="store_true", help="also time float16 (--half) on each accelerator")
    parser.add_argument("--spinning", nargs="+", default=["off"], choices=("off", "on"),
                        help="ONNX Runtime intra-op thread spinning (OpenVINO ignores it)")
    parser.add_argument("--load", type=int, default=0,
                        help="busy-loop processes run beside the timing (a loaded machine); 0: none")
    parser.add_argument("--rounds", type=int, default=5, help="rounds over every configuration (median)")
    parser.add_argument("--crops-per-round", type=int, default=32, help="crops timed per configuration per round")
    parser.add_argument("--profile", action="store_true", help="also print ORT's per-operator profile")
    parser.add_argument("--models-dir", default=str(SHARED / "models"))
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()}", flush=True)

    sources = {model: model_source(model, args.models_dir) for model in args.models}  # a torch model exported once
    configs = []
    for model, path in sources.items():
        batches = args.detector_batches if catalog.get(model).task == "detection" else args.batches
        for device, half in [(d, h) for d in args.devices
                             for h in ([False, True] if args.half and Device.parse(d).accelerator else [False])]:
            for backend in args.backends:
                for threads in args.threads:
                    for spin in args.spinning:
                        try:
                            session = make_session(path, threads, backend=backend, spinning=spin == "on",
                                                   device=device, half=half)
                        except ValueError:  # a backend this device does not run (e.g. cuda with openvino)
                            continue
                        label = device + ("+half" if half else "")
                        for batch in batches:
                            name, x = _input(session, batch)
                            session.run(None, {name: x})  # warm-up (and the first-shape work of GPU providers)
                            configs.append({"model": model, "backend": backend, "threads": threads, "spin": spin,
                                            "device": label, "batch": batch, "session": session,
                                            "feed": {name: x}, "ms": []})
    burners = [mp.get_context("spawn").Process(target=_burn, daemon=True) for _ in range(args.load)]
    for p in burners:
        p.start()
    try:
        for _ in range(args.rounds):
            for c in configs:  # interleaved
                calls = max(1, args.crops_per_round // c["batch"])
                start = time.perf_counter()
                for _ in range(calls):
                    c["session"].run(None, c["feed"])
                c["ms"].append(1000 * (time.perf_counter() - start) / (calls * c["batch"]))
    finally:
        for p in burners:
            p.terminate()
    load_after = os.getloadavg()

    shown = sorted(set(args.batches) | set(args.detector_batches))
    print("| model | device | backend | threads | spinning | " + " | ".join(f"batch {b}" for b in shown) + " |")
    print("|---" * (5 + len(shown)) + "|")
    rows = []
    for key in dict.fromkeys((c["model"], c["device"], c["backend"], c["threads"], c["spin"]) for c in configs):
        cells = {c["batch"]: statistics.median(c["ms"]) for c in configs
                 if (c["model"], c["device"], c["backend"], c["threads"], c["spin"]) == key}
        rows.append({"model": key[0], "device": key[1], "backend": key[2], "threads": key[3], "spinning": key[4],
                     "ms_per_crop": cells})
        print(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {key[4]} | "
              + " | ".join(f"{cells[b]:.2f}" if b in cells else "" for b in shown) + " |")
    print(f"ms per crop (detector: per image), median of {args.rounds} interleaved rounds, {args.load} busy "
          f"process(es) beside; load average after: {load_after}")

    profiles = {}
    if args.profile:
        for model, path in sources.items():
            batch = 1 if catalog.get(model).task == "detection" else args.batches[0]
            ops = profile_ops(path, batch, args.threads[0])
            profiles[model] = ops
            print(f"\n{model}, batch {batch}, {args.threads[0]} thread(s): share of kernel time by operator")
            print("| op | share | nodes per run |\n|---|---|---|")
            for op, share, nodes in ops[:12]:
                print(f"| {op} | {100 * share:.1f} % | {nodes:.0f} |")
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "profiles": profiles, "load_after": load_after}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
