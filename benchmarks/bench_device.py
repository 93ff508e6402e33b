"""Every device of this machine side by side: ms per crop by batch size, and the presets' images/s and AP on
the dev images -- each figure naming its device, the devices interleaved.

Devices: ``--devices``, default every device found (:func:`posekit.runtime.available_devices`: the CPU,
ONNX Runtime's accelerator providers, OpenVINO's GPU/NPU) that opens a session of PP-TinyPose here; one
that ONNX Runtime lists but cannot start (TensorRT without its libraries, CUDA without cuDNN) is named
and skipped. The same command runs unchanged on a machine with a GPU: nothing here assumes one.

1. ms per crop by batch size: ``bench_onnx.py`` over the devices, one session per (network, device) with
   all cores' intra-op threads, every configuration timed in turn in each round (A B C A B C). The
   detector is timed at 1 and 8 images per call (the accelerator plan's group).
2. The presets (default ``fast balanced accurate``): ``bench_presets.py`` with one configuration
   ``PRESET/DEVICE:engine`` per preset and device, each in its own process, the dev set's chunks
   handed to each configuration in turn. Speed is ``posekit predict``'s path
   (:meth:`~posekit.pipeline.PoseEstimator.predict_files`): on the CPU the engine (replicas), on an
   accelerator the accelerator plan (:mod:`posekit.batching`). AP is COCO keypoint AP on those images.

``--half`` adds float16 on each accelerator to both (the tolerance of ``--half``: its AP beside float32's).

Run it alone on an idle machine and quote the load averages it prints::

    python benchmarks/bench_device.py                            # every device, 300 dev images
    python benchmarks/bench_device.py --half                     # and float16 on each accelerator
    python benchmarks/bench_device.py --limit 10 --rounds 1      # a smoke run (figures mean nothing)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import bench_onnx
import bench_presets
from _estimator import SHARED

PRESETS = ("fast", "balanced", "accurate")
PROBE = "pp_tinypose_128x96"


def usable_devices(requested: list[str] | None, models_dir: str) -> tuple[list[str], dict[str, str]]:
    """The devices to measure (``requested``, default every one found) that open a session here, and why the
    others were skipped."""
    from posekit import catalog
    from posekit.runtime import available_devices, make_session, session_device

    names = requested or [str(d) for d in available_devices()]
    usable, skipped = [], {}
    probe = catalog.model_file_path(PROBE, models_dir)
    for name in names:
        try:
            session = make_session(probe, None, device=name, backend="openvino" if name.startswith("openvino")
                                   else "onnxruntime")
        except (ImportError, RuntimeError, ValueError) as exc:  # DeviceUnavailableError is an ImportError
            skipped[name] = f"{type(exc).__name__}: {exc}"
            continue
        usable.append(name)
        print(f"device {name}: runs on {session.get_providers()[0]} ({session_device(session)})", flush=True)
    return usable, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", nargs="+", default=None, help="default: every device found")
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--limit", type=int, default=None, help="dev images (default: all 300)")
    parser.add_argument("--half", action="store_true", help="also float16 on each accelerator")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64],
                        help="pose-network batch sizes of the ms/crop table")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the ms/crop table (median)")
    parser.add_argument("--chunk", type=int, default=25, help="images per turn of each preset configuration")
    parser.add_argument("--skip-presets", action="store_true", help="only the ms/crop table")
    parser.add_argument("--models-dir", default=str(SHARED / "models"))
    parser.add_argument("--out", type=Path, default=Path("bench_device.json"))
    args = parser.parse_args(argv)
    from posekit.engine import available_cpus
    from posekit.runtime import Device

    print(f"load average before: {os.getloadavg()}", flush=True)
    devices, skipped = usable_devices(args.devices, args.models_dir)
    for name, why in skipped.items():
        print(f"device {name}: skipped ({why})", flush=True)
    if not devices:
        print("no device to measure", file=sys.stderr)
        return 2
    variants = [d + suffix for d in devices
                for suffix in ([""] + (["+half"] if args.half and Device.parse(d).accelerator else []))]
    scratch = Path(tempfile.mkdtemp(prefix="bench-device-"))

    print("\n## ms per crop by batch size (detector: ms per image), interleaved across devices", flush=True)
    onnx_argv = ["--models", *bench_onnx.DEFAULT_MODELS, "--devices", *devices, "--threads", str(available_cpus()),
                 "--batches", *map(str, args.batches), "--detector-batches", "1", "8", "--rounds", str(args.rounds),
                 "--backends", "onnxruntime", "--models-dir", args.models_dir, "--out", str(scratch / "onnx.json")]
    ov = [d for d in devices if d.startswith("openvino")]
    if ov:  # OpenVINO's devices run on the openvino backend; the others skip it
        onnx_argv[onnx_argv.index("--backends") + 1:onnx_argv.index("--backends") + 2] = ["onnxruntime", "openvino"]
    bench_onnx.main(onnx_argv + (["--half"] if args.half else []))
    crops = json.loads((scratch / "onnx.json").read_text())

    presets: dict = {}
    if not args.skip_presets:
        print("\n## presets on the dev images, interleaved across devices", flush=True)
        configs = [f"{p}/{v}" for p in args.presets for v in variants]
        presets_argv = ["--presets", *configs, "--modes", "engine", "--chunk", str(args.chunk),
                        "--models-dir", args.models_dir, "--out", str(scratch / "presets.json")]
        bench_presets.main(presets_argv + (["--max-images", str(args.limit)] if args.limit else []))
        presets = json.loads((scratch / "presets.json").read_text())
        print("\n| preset | device | AP | AR | images/s | × cpu | ms/image network | crops/image |")
        print("|---|---|---|---|---|---|---|---|")
        by_config = {r["config"]: r for r in presets["rows"]}
        for p in args.presets:
            cpu = by_config.get(f"{p}/cpu:engine")
            for v in variants:
                r = by_config[f"{p}/{v}:engine"]
                ratio = f"{r['images_per_s'] / cpu['images_per_s']:.2f}" if cpu else "-"
                print(f"| {p} | {v} | {r['AP']:.3f} | {r['AR']:.3f} | {r['images_per_s']:.2f} | {ratio} | "
                      f"{r['ms_per_stage'].get('network', 0.0):.1f} | {r['crops_per_image']:.2f} |")
    load_after = os.getloadavg()
    print(f"\nload average after: {load_after}; devices {variants}; {args.limit or 'all'} dev images")
    args.out.write_text(json.dumps({"devices": variants, "skipped": skipped, "ms_per_crop": crops["rows"],
                                    "presets": presets.get("rows", []), "load_after": load_after}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
