"""The presets on the dev set, in ONE interleaved run: AP, images/s, crops, stage times, peak RSS.

Each preset (``fast``, ``balanced``, ``accurate`` and the ``movenet`` reference)
runs in its own worker process, so that each has its own peak RSS. The parent
hands the 300 images of ``coco-val-dev`` out in chunks, round robin: chunk 1 to
every preset in turn, then chunk 2, ... (A B C D A B C D), with only one worker
busy at a time. Speed is the whole pipeline of ``posekit predict`` on a folder
(:meth:`posekit.pipeline.PoseEstimator.predict_files`: decoding in a read-ahead
thread, detection, crop budget, pose network, tail), wall clock per chunk.

Prints a markdown table (the README's accuracy/speed table) and writes it with
the raw figures to ``--out``. Run it alone on an idle machine and quote the load
average it prints.

Usage::

    python benchmarks/bench_presets.py [--presets fast balanced accurate movenet] [--chunk 25] [--threads 2]
    python benchmarks/bench_presets.py --presets balanced balanced@openvino fast fast@openvino movenet
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


def _worker(conn: Any, preset: str, models_dir: str, threads: int | None, image_ids: dict[str, int]) -> None:
    """Serve ``("run", paths)`` and ``("finish", None)`` for one preset."""
    from posekit.pipeline import PoseEstimator

    name, _, runtime = preset.partition("@")
    est = PoseEstimator.from_preset(name, models_dir=models_dir, num_threads=threads, runtime=runtime or "onnx")
    results: list[dict] = []
    conn.send(("ready", repr(est)))
    while True:
        command, paths = conn.recv()
        if command == "finish":
            peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            conn.send({"results": results, "peak_rss_mb": peak_kb / 1024, "stage_s": est.timer.totals,
                       "crops": est.crops_run})
            return
        start = time.perf_counter()
        errors = 0
        # ignore_orientation: COCO annotations are in the stored-pixel frame.
        for path, _, poses, error in est.predict_files(paths, ignore_orientation=True):
            if error is not None:
                errors += 1
                continue
            results.extend(poses.to_coco(image_ids[str(path)]))
        conn.send({"seconds": time.perf_counter() - start, "errors": errors})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["fast", "balanced", "accurate", "movenet"],
                        help="preset names; NAME@RUNTIME runs a preset on another runtime (e.g. balanced@openvino)")
    parser.add_argument("--chunk", type=int, default=25, help="images per turn of each preset")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: all cores)")
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--models-dir", default=str(SHARED / "models"))
    parser.add_argument("--out", type=Path, default=Path("bench_presets.json"))
    args = parser.parse_args(argv)

    from posekit.evaluation import evaluate_keypoints, load_coco_json, multi_person_image_ids

    gt = load_coco_json(DEV / "person_keypoints.json")
    images = sorted(gt["images"], key=lambda im: im["file_name"])[: args.max_images]
    image_ids = {str(DEV / "images" / im["file_name"]): im["id"] for im in images}
    paths = list(image_ids)
    selected_ids = set(image_ids.values())
    multi_ids = [i for i in multi_person_image_ids(gt) if i in selected_ids]
    print(f"load average before: {os.getloadavg()}", flush=True)

    ctx = mp.get_context("spawn")
    workers = {}
    for name in args.presets:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(child, name, args.models_dir, args.threads, image_ids))
        proc.start()
        status, desc = parent.recv()
        print(f"{name}: {desc}", flush=True)
        workers[name] = (proc, parent)
    seconds = {name: 0.0 for name in workers}
    for start in range(0, len(paths), args.chunk):
        chunk = paths[start : start + args.chunk]
        for name, (_, conn) in workers.items():  # interleaved: every preset gets this chunk in turn
            conn.send(("run", chunk))
            reply = conn.recv()
            seconds[name] += reply["seconds"]
            if reply["errors"]:
                print(f"{name}: {reply['errors']} images failed", flush=True)
    load_after = os.getloadavg()
    rows = []
    for name, (proc, conn) in workers.items():
        conn.send(("finish", None))
        final = conn.recv()
        proc.join()
        n = len(paths)
        stats = evaluate_keypoints(gt, final["results"], image_ids=sorted(selected_ids)) if final["results"] else {}
        ap_multi = evaluate_keypoints(gt, final["results"], image_ids=multi_ids)["AP"] if final["results"] else 0.0
        rows.append({
            "preset": name, "AP": stats.get("AP", 0.0), "AP_multi": ap_multi, "AR": stats.get("AR", 0.0),
            "images_per_s": n / seconds[name], "crops_per_image": final["crops"] / n,
            "ms_per_stage": {k: 1000 * v / n for k, v in final["stage_s"].items()},
            "peak_rss_mb": final["peak_rss_mb"],
        })
    ref = next((r for r in rows if r["preset"] == "movenet"), None)
    stages = ["detect", "crop", "network", "decode", "map_back", "pose_nms"]
    lines = [
        "| preset | AP | AP multi-person | AR | images/s | × movenet | crops/image | "
        + " | ".join(f"{s} ms" for s in stages) + " | peak RSS MB |",
        "|---" * (8 + len(stages)) + "|",
    ]
    for r in rows:
        ratio = f"{r['images_per_s'] / ref['images_per_s']:.2f}" if ref else "-"
        lines.append(
            f"| {r['preset']} | {r['AP']:.3f} | {r['AP_multi']:.3f} | {r['AR']:.3f} | {r['images_per_s']:.2f} | {ratio} | "
            f"{r['crops_per_image']:.2f} | " + " | ".join(f"{r['ms_per_stage'].get(s, 0.0):.1f}" for s in stages)
            + f" | {r['peak_rss_mb']:.0f} |"
        )
    table = "\n".join(lines)
    print(table)
    print(f"load average after: {load_after}; {len(paths)} images, chunks of {args.chunk}, threads {args.threads}")
    args.out.write_text(json.dumps({"rows": rows, "table": table, "load_after": load_after}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
