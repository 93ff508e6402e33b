"""Images/s and per-stage milliseconds of the image pipeline on the COCO dev images.

    python benchmarks/bench_images.py [--images DIR] [--limit N] [--pose-model NAME] [--flip]

Images are decoded before timing starts, so the figures are the pipeline's own
(detect, crop, network, decode, map back, pose NMS). Prints one table.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from posekit.io import find_images, read_image
from posekit.pipeline import PoseEstimator

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("POSEKIT_SHARED", HERE.parent.parent / "shared"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", default=str(SHARED / "data" / "coco-val-dev" / "images"))
    p.add_argument("--models-dir", default=str(SHARED / "models"))
    p.add_argument("--limit", type=int, default=300, help="number of images (default 300)")
    p.add_argument("--detector", default="yolox_nano")
    p.add_argument("--pose-model", default="movenet_thunder")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=True, help="flip test (default on)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--warmup", type=int, default=3)
    args = p.parse_args()

    paths = find_images([args.images])[: args.limit]
    images = [read_image(q) for q in paths]
    est = PoseEstimator(args.detector, args.pose_model, models_dir=args.models_dir, flip_test=args.flip,
                        num_threads=args.threads)
    for img in images[: args.warmup]:
        est(img)
    est.timer.reset()
    people = 0
    start = time.perf_counter()
    for img in images:
        people += len(est(img))
    elapsed = time.perf_counter() - start

    n = len(images)
    print(f"pipeline   {est!r}")
    print(f"machine    {os.cpu_count()} cores")
    print(f"images     {n}   people found {people} ({people / n:.2f}/image)")
    print(f"throughput {n / elapsed:.2f} images/s   ({1000 * elapsed / n:.1f} ms/image)")
    print("stage        ms/image")
    for stage, ms in est.timer.mean_ms(per=n).items():
        print(f"  {stage:10s} {ms:8.2f}")


if __name__ == "__main__":
    main()
