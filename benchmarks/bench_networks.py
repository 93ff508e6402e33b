#!/usr/bin/env python3
"""Speed of the posekit networks on the CPU: PyTorch vs ONNX Runtime.

For every network: parameters, GMACs per crop (counted here with forward
hooks on Conv2d / ConvTranspose2d / Linear; no external profiler), and the
median wall time per crop at batch 1 and batch 8 in torch (eval, no_grad) and
in ONNX Runtime (CPU provider, all graph optimisations) on the exported file,
with the ratio ORT / torch (< 1: ORT faster). Weights are random: speed does
not depend on them.

    python benchmarks/bench_networks.py                       # every network
    python benchmarks/bench_networks.py --models hrnet_w32_256x192 fastpose_res50_256x192 --repeats 5

Detectors (``yolov3_spp``) are timed per image at ``--detector-size``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger("bench_networks")


def count_macs(model, input_shape: tuple[int, int, int, int]) -> int:
    """Multiply-accumulates of one forward pass (per batch of ``input_shape[0]``).

    Conv2d: ``out.numel() * in/groups * kh * kw``; ConvTranspose2d:
    ``in.numel() * out/groups * kh * kw``; Linear: ``out.numel() * in_features``.
    Bias adds, BN, activations, pooling and resizes are not counted.
    """
    import torch
    from torch import nn

    total = 0

    def conv_hook(module: nn.Conv2d, inputs, output) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += output.numel() * (module.in_channels // module.groups) * kh * kw

    def deconv_hook(module: nn.ConvTranspose2d, inputs, output) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += inputs[0].numel() * (module.out_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Linear, inputs, output) -> None:
        nonlocal total
        total += output.numel() * module.in_features

    handles = []
    for module in model.modules():
        if isinstance(module, nn.ConvTranspose2d):
            handles.append(module.register_forward_hook(deconv_hook))
        elif isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            model(torch.zeros(input_shape))
    finally:
        for handle in handles:
            handle.remove()
    return total


def time_per_item(fn: Callable[[], object], batch: int, repeats: int, budget_s: float) -> float:
    """Median milliseconds per batch item over up to ``repeats`` runs (after one warm-up)."""
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < repeats and (len(times) < 2 or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times) / batch


def bench_one(name: str, args: argparse.Namespace, workdir: Path) -> dict:
    import onnxruntime as ort
    import torch

    from posekit.export import export_onnx
    from posekit.models import create_model, get_pretrained_config

    config = get_pretrained_config(name)
    kwargs = {}
    width, height = config.input_size
    if config.task == "detection":
        kwargs["input_size"] = args.detector_size
        width = height = args.detector_size
    torch.manual_seed(0)
    model = create_model(name, **kwargs).eval()
    row: dict = {
        "model": name,
        "input": f"{height}x{width}",
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "gmacs": count_macs(model, (1, 3, height, width)) / 1e9,
    }
    onnx_path = workdir / f"{name}.onnx"
    session = None
    try:
        export_onnx(model, onnx_path, (width, height), config.spec)
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - report and keep benchmarking the others
        log.warning("%s: ONNX export/load failed: %s", name, exc)
    rng = np.random.default_rng(0)
    for batch in args.batches:
        x = rng.standard_normal((batch, 3, height, width)).astype(np.float32)
        xt = torch.from_numpy(x)

        def run_torch() -> None:
            with torch.no_grad():
                model(xt)

        row[f"torch_b{batch}"] = time_per_item(run_torch, batch, args.repeats, args.budget)
        if session is not None:
            input_name = session.get_inputs()[0].name
            row[f"ort_b{batch}"] = time_per_item(
                lambda: session.run(None, {input_name: x}), batch, args.repeats, args.budget
            )
        log.info("%s batch %d done", name, batch)
    onnx_path.unlink(missing_ok=True)
    return row


def format_table(rows: list[dict], batches: list[int]) -> str:
    header = ["model", "input HxW", "params M", "GMACs"]
    for b in batches:
        header += [f"torch b{b} ms", f"ORT b{b} ms", f"ORT/torch b{b}"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["model"], row["input"], f"{row['params_m']:.1f}", f"{row['gmacs']:.2f}"]
        for b in batches:
            t, o = row.get(f"torch_b{b}"), row.get(f"ort_b{b}")
            cells += [f"{t:.1f}", f"{o:.1f}" if o else "n/a", f"{o / t:.2f}" if o else "n/a"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import torch

    from posekit.models import list_models

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", help="registry names (default: all pose networks + yolov3_spp)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median; default 5)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8], help="batch sizes (default 1 8)")
    parser.add_argument("--threads", type=int, default=1, help="torch and ORT intra-op threads (default 1)")
    parser.add_argument("--budget", type=float, default=20.0, help="max seconds per measurement (>= 2 runs)")
    parser.add_argument("--detector-size", type=int, default=608, help="square input of detectors (default 608)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    names = args.models or list_models()
    if not args.models:
        try:
            import posekit.models.yolov3  # noqa: F401
        except ImportError:
            names = [n for n in names if n != "yolov3_spp"]
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            log.info("benchmarking %s", name)
            rows.append(bench_one(name, args, Path(tmp)))
    print(f"\nCPU, {args.threads} thread(s), torch {torch.__version__}, random weights; ms per crop (per image for detectors)\n")
    print(format_table(rows, args.batches))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
