"""The presets on the dev set, serial path vs parallel engine, in ONE interleaved run.

Each configuration ``PRESET:MODE`` (``fast``, ``balanced``, ``accurate``, the
``movenet`` reference; mode ``baseline`` -- the previous release: the serial
path, ONNX Runtime only, no minimum box size in the crop budget --, ``serial``
-- one estimator with sessions of all cores' threads, images decoded ahead in a
thread, today's presets and ``runtime="auto"`` -- or ``engine`` --
:mod:`posekit.engine`, one single-threaded replica per CPU) runs
in its own worker process, so that each has its own peak RSS. The parent hands
the 300 images of ``coco-val-dev`` out in chunks, round robin: chunk 1 to every
configuration in turn, then chunk 2, ... (A B C D A B C D), with only one
worker busy at a time. Each chunk holds images of one people-count bucket (people in the
ground truth: 0, 1, 2-4, 5-9, 10+), so that the time per image is known per
bucket too. Speed is the whole pipeline of ``posekit predict`` on a folder
(:meth:`posekit.pipeline.PoseEstimator.predict_files`: decoding, detection, crop
budget, pose network, tail), wall clock per chunk.

The configuration ``one-stage:planted`` is the one-stage path (:mod:`posekit.pose.onestage`)
with a synthetic YOLO-pose contract network: for each image the network's output
is planted from the ground truth, 30 overlapping candidates per labelled person
(boxes jittered by up to 5 %, scores 0.9 down to 0.3) and 200 faint background
candidates (scores 0.002-0.02, above the 0.001 evaluation threshold), the way a real
model's raw output crowds with the people; then the product's own work runs:
Ultralytics' letterbox, the synthetic network (a fixed, small cost), decoding,
score threshold, NMS and the tail. A real network's own time does not depend
on the image content, so this is the part of a one-stage model's cost that
could grow with the crowd. Its AP is meaningless (planted from the ground truth).

Prints two markdown tables (the README's accuracy/speed table and ms/image by
people count) and writes them with the raw figures to ``--out``. Run it alone
on an idle machine and quote the load averages it prints.

Usage::

    python benchmarks/bench_presets.py [--presets fast balanced accurate movenet] [--modes serial engine] [--chunk 25]
    python benchmarks/bench_presets.py --presets balanced balanced@openvino --modes engine
    python benchmarks/bench_presets.py --presets fast balanced one-stage --modes serial  # the crowd-cost table
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from _estimator import SHARED

DEV = SHARED / "data" / "coco-val-dev"


BUCKETS = (("0", 0, 0), ("1", 1, 1), ("2-4", 2, 4), ("5-9", 5, 9), ("10+", 10, 10**9))


def people_bucket(count: int) -> str:
    """The people-count bucket of an image with ``count`` labelled people."""
    return next(name for name, low, high in BUCKETS if low <= count <= high)


def _planted_one_stage(threads: int | None) -> tuple[Any, dict[str, int]]:
    """The ``one-stage:planted`` estimator: a synthetic YOLO-pose file whose ``run`` returns, for each image, an
    output planted from its ground truth (see the module docstring). One worker, serial: set ``current["id"]``
    to the COCO id of the image before running it."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from posekit.evaluation import load_coco_json
    from posekit.pipeline import PoseEstimator

    rows, k = 8400, 17
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
         helper.make_node("Mul", ["m", "zero"], ["z"]), helper.make_node("Add", ["const", "z"], ["output0"])],
        "planted", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 5 + 3 * k, rows])],
        [numpy_helper.from_array(np.zeros((1, 5 + 3 * k, rows), np.float32), "const"),
         numpy_helper.from_array(np.zeros((), np.float32), "zero")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"planted-yolo-pose-{os.getpid()}.onnx"
    onnx.save(model, str(path))
    est = PoseEstimator(pose_model=str(path), num_threads=threads)
    gt = load_coco_json(DEV / "person_keypoints.json")
    by_image: dict[int, list] = {}
    for a in gt["annotations"]:
        if not a.get("iscrowd") and a.get("num_keypoints", 0) > 0:
            by_image.setdefault(a["image_id"], []).append(a)
    model_resize, model_run = est.pose_model.resize, est.pose_model.run
    current: dict[str, Any] = {}

    def resize(image: Any) -> Any:
        x, current["lb"] = model_resize(image)  # the model's own letterbox, kept for the planted outputs
        return x, current["lb"]

    def planted_run(x: Any) -> list:
        out = model_run(x)[0].copy()  # the network's own (fixed) cost, then the planted candidates
        image_id = current["id"]
        r, pad = current["lb"].scale, np.asarray(current["lb"].pad)
        rng = np.random.default_rng(image_id)
        cands = []
        for a in by_image.get(image_id, []):
            x0, y0, bw, bh = a["bbox"]
            kp = np.asarray(a["keypoints"], np.float64).reshape(k, 3)
            for score in np.linspace(0.9, 0.3, 30):
                jit = 1 + rng.uniform(-0.05, 0.05, 4)
                c = np.array([x0 + bw / 2, y0 + bh / 2, bw, bh]) * jit
                pts = kp[:, :2] + rng.normal(0, 0.02 * max(bw, bh), (k, 2))
                cands.append(np.concatenate([c[:2] * r + pad, c[2:] * r, [score],
                                             np.column_stack([pts * r + pad, np.full(k, 0.8)]).ravel()]))
        for _ in range(200):
            c = np.array([rng.uniform(0, 640), rng.uniform(0, 640), rng.uniform(10, 200), rng.uniform(10, 200)])
            cands.append(np.concatenate([c, [rng.uniform(0.002, 0.02)], rng.uniform(0, 640, 3 * k)]))
        block = np.asarray(cands, np.float32)[:rows]
        out[0, :, : len(block)] = block.T
        return [out]

    est.pose_model.resize = resize  # type: ignore[method-assign]
    est.pose_model.run = planted_run  # type: ignore[method-assign]
    return est, current


def _serve(conn: Any, est: Any, ready: str, run: Any, crops: Any) -> None:
    """A worker's loop: send ``("ready", ready)``, then answer ``("run", paths)`` with the seconds ``run(paths)``
    took (it returns ``(COCO results, errors)``) and ``("finish", None)`` with the results, peak RSS, stage times
    and ``crops()``."""
    results: list[dict] = []
    conn.send(("ready", ready))
    while True:
        command, paths = conn.recv()
        if command == "finish":
            peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            conn.send({"results": results, "peak_rss_mb": peak_kb / 1024, "stage_s": est.timer.totals,
                       "crops": crops()})
            return
        start = time.perf_counter()
        found, errors = run(paths)
        results.extend(found)
        conn.send({"seconds": time.perf_counter() - start, "errors": errors})


def _worker(conn: Any, config: str, models_dir: str, threads: int | None, image_ids: dict[str, int]) -> None:
    """Serve ``("run", paths)`` and ``("finish", None)`` for one configuration ``PRESET[@RUNTIME][/DEVICE[+half]]:MODE``
    (device default ``cpu``; ``benchmarks/bench_device.py`` names others, e.g. ``balanced/cuda:0+half:engine``)."""
    if config.startswith("one-stage"):
        _planted_worker(conn, threads, image_ids)
        return
    from posekit.engine import plan_engine
    from posekit.pipeline import PoseEstimator

    from posekit.presets import get_preset

    preset, _, mode = config.rpartition(":")
    preset, _, device = preset.partition("/")
    device, half = device.removesuffix("+half"), device.endswith("+half")
    name, _, runtime = preset.partition("@")
    settings = get_preset(name)
    if mode in ("serial", "baseline"):  # one estimator, all cores' threads, read-ahead thread
        workers, session_threads = 1, threads
    else:
        plan = plan_engine(None, threads)
        workers, session_threads = plan.workers, plan.threads
    if mode == "baseline":  # the release before the engine: ONNX Runtime, no minimum box size
        settings, runtime = settings.with_(min_box_size=0.0), runtime or "onnx"
    est = PoseEstimator(preset=settings, models_dir=models_dir, num_threads=session_threads,
                        runtime=runtime or "auto", device=device or "cpu", half=half)
    list(est.predict_files(list(image_ids)[:2], workers=workers, threads=session_threads))  # build replicas
    est.timer.reset()
    est.crops_run = 0

    def run(paths: list[str]) -> tuple[list[dict], int]:
        results: list[dict] = []
        errors = 0
        # ignore_orientation: COCO annotations are in the stored-pixel frame.
        for path, _, poses, error in est.predict_files(paths, ignore_orientation=True, workers=workers,
                                                       threads=session_threads):
            if error is not None:
                errors += 1
                continue
            results.extend(poses.to_coco(image_ids[str(path)]))
        return results, errors

    _serve(conn, est, f"{est!r} workers={workers} threads={session_threads} device={est.device}", run,
           lambda: est.crops_run)


def _planted_worker(conn: Any, threads: int | None, image_ids: dict[str, int]) -> None:
    """The ``one-stage:planted`` configuration's worker (serial: the planted outputs follow the image in hand)."""
    from posekit.io import read_image

    est, current = _planted_one_stage(threads)

    def run(paths: list[str]) -> tuple[list[dict], int]:
        results: list[dict] = []
        for path in paths:
            current["id"] = image_ids[path]
            with est.timer("read"):
                image = read_image(path, ignore_orientation=True)
            results.extend(est(image).to_coco(image_ids[path]))
        return results, 0

    _serve(conn, est, f"{est!r} (planted outputs) workers=1 threads={threads}", run, lambda: 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["fast", "balanced", "accurate", "movenet"],
                        help="preset names; NAME@RUNTIME runs a preset on another runtime (e.g. balanced@openvino)")
    parser.add_argument("--modes", nargs="+", default=["baseline", "serial", "engine"],
                        choices=("baseline", "serial", "engine"))
    parser.add_argument("--chunk", type=int, default=25, help="images per turn of each configuration")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra-op threads (serial default: all cores; engine default: 1 per worker)")
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--models-dir", default=str(SHARED / "models"))
    parser.add_argument("--out", type=Path, default=Path("bench_presets.json"))
    args = parser.parse_args(argv)

    from posekit.evaluation import evaluate_keypoints, load_coco_json, multi_person_image_ids

    gt = load_coco_json(DEV / "person_keypoints.json")
    images = sorted(gt["images"], key=lambda im: im["file_name"])[: args.max_images]
    image_ids = {str(DEV / "images" / im["file_name"]): im["id"] for im in images}
    people: dict[int, int] = {}
    for a in gt["annotations"]:
        if not a.get("iscrowd"):
            people[a["image_id"]] = people.get(a["image_id"], 0) + 1
    bucket_of = {path: people_bucket(people.get(i, 0)) for path, i in image_ids.items()}
    chunks: list[tuple[str, list[str]]] = []
    for bucket, _, _ in BUCKETS:
        members = [p for p in image_ids if bucket_of[p] == bucket]
        chunks += [(bucket, members[i : i + args.chunk]) for i in range(0, len(members), args.chunk)]
    paths = list(image_ids)
    selected_ids = set(image_ids.values())
    multi_ids = [i for i in multi_person_image_ids(gt) if i in selected_ids]
    print(f"load average before: {os.getloadavg()}", flush=True)

    ctx = mp.get_context("spawn")
    configs = [f"{p}:{m}" for p in args.presets if p != "one-stage" for m in args.modes]
    configs += ["one-stage:planted"] if "one-stage" in args.presets else []
    workers = {}
    for name in configs:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(child, name, args.models_dir, args.threads, image_ids))
        proc.start()
        status, desc = parent.recv()
        print(f"{name}: {desc}", flush=True)
        workers[name] = (proc, parent)
    seconds = {name: 0.0 for name in workers}
    bucket_seconds = {name: {b: 0.0 for b, _, _ in BUCKETS} for name in workers}
    for bucket, chunk in chunks:
        for name, (_, conn) in workers.items():  # interleaved: every configuration gets this chunk in turn
            conn.send(("run", chunk))
            reply = conn.recv()
            seconds[name] += reply["seconds"]
            bucket_seconds[name][bucket] += reply["seconds"]
            if reply["errors"]:
                print(f"{name}: {reply['errors']} images failed", flush=True)
    load_after = os.getloadavg()
    bucket_counts = {b: sum(1 for p in paths if bucket_of[p] == b) for b, _, _ in BUCKETS}
    rows = []
    for name, (proc, conn) in workers.items():
        conn.send(("finish", None))
        final = conn.recv()
        proc.join()
        n = len(paths)
        stats = evaluate_keypoints(gt, final["results"], image_ids=sorted(selected_ids)) if final["results"] else {}
        ap_multi = evaluate_keypoints(gt, final["results"], image_ids=multi_ids)["AP"] if final["results"] else 0.0
        rows.append({
            "config": name, "AP": stats.get("AP", 0.0), "AP_multi": ap_multi, "AR": stats.get("AR", 0.0),
            "images_per_s": n / seconds[name], "crops_per_image": final["crops"] / n,
            "ms_per_stage": {k: 1000 * v / n for k, v in final["stage_s"].items()},
            "ms_per_image_by_people": {b: 1000 * bucket_seconds[name][b] / c
                                       for b, c in bucket_counts.items() if c},
            "peak_rss_mb": final["peak_rss_mb"],
        })
    by_name = {r["config"]: r for r in rows}
    ref = by_name.get("movenet:serial") or by_name.get("movenet:engine")
    stages = ["read", "resize", "detect", "crop", "network", "decode", "map_back", "pose_nms"]
    lines = [
        "| preset:mode | AP | AP multi-person | AR | images/s | × baseline | × movenet | crops/image | "
        + " | ".join(f"{s} ms" for s in stages) + " | peak RSS MB |",
        "|---" * (9 + len(stages)) + "|",
    ]
    for r in rows:
        serial = by_name.get(r["config"].split(":")[0] + ":baseline") or by_name.get(r["config"].split(":")[0] + ":serial")
        vs_serial = f"{r['images_per_s'] / serial['images_per_s']:.2f}" if serial else "-"
        ratio = f"{r['images_per_s'] / ref['images_per_s']:.2f}" if ref else "-"
        lines.append(
            f"| {r['config']} | {r['AP']:.3f} | {r['AP_multi']:.3f} | {r['AR']:.3f} | {r['images_per_s']:.2f} | "
            f"{vs_serial} | {ratio} | {r['crops_per_image']:.2f} | "
            + " | ".join(f"{r['ms_per_stage'].get(s, 0.0):.1f}" for s in stages) + f" | {r['peak_rss_mb']:.0f} |"
        )
    table = "\n".join(lines)
    shown = [b for b, c in bucket_counts.items() if c]
    people_lines = [
        "| preset:mode | " + " | ".join(f"{b} people ({bucket_counts[b]} images), ms" for b in shown)
        + " | 10+ / 1 |",
        "|---" * (len(shown) + 2) + "|",
    ]
    for r in rows:
        ms = r["ms_per_image_by_people"]
        growth = f"{ms['10+'] / ms['1']:.2f}" if "10+" in ms and "1" in ms else "-"
        people_lines.append(f"| {r['config']} | " + " | ".join(f"{ms[b]:.0f}" for b in shown) + f" | {growth} |")
    people_table = "\n".join(people_lines)
    print(table)
    print()
    print(people_table)
    print(f"load average after: {load_after}; {len(paths)} images, chunks of {args.chunk}, threads {args.threads}")
    args.out.write_text(json.dumps({"rows": rows, "table": table, "people_table": people_table,
                                    "load_after": load_after}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
