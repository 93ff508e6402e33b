"""Video benchmark: frames/s and tracks on real videos, rendered output for a visual check.

For each video (default: ``vtest.avi`` 768x576 and ``street-crowd.avi``
1280x720 from the shared data) and each detector period (default 1 and 5) it
runs :func:`posekit.video.run_video` with the real
:class:`posekit.pipeline.PoseEstimator` and reports frames/s (end to end:
decoding, detection, pose, tracking, writing), detector runs, tracks created,
deleted, re-associated, and the estimator's per-stage times. The rendered
videos (``--save-video``, on by default) and a few frames extracted from them
as PNG (``--snapshots``) land in ``--out``.

Usage::

    python benchmarks/bench_video.py --out /tmp/bench_video [--max-frames 300]
    # serial loop vs the pipelined engine, balanced preset, interleaved (A B A B):
    python benchmarks/bench_video.py ../shared/data/videos/vtest.avi --preset balanced --detect-every 1 3 \
        --workers 1 2 --repeat 2 --no-save-video
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import cv2

from _estimator import SHARED, add_estimator_arguments, build_estimator
from _table import format_table
from posekit.video.run import run_video



def extract_frames(video: str, indices: list[int], out_dir: Path, prefix: str) -> list[Path]:
    """Save frames ``indices`` of ``video`` as PNG files."""
    cap = cv2.VideoCapture(video)
    saved = []
    try:
        for index in indices:
            cap.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, frame = cap.read()
            if ok:
                path = out_dir / f"{prefix}_frame{index:04d}.png"
                cv2.imwrite(str(path), frame)
                saved.append(path)
    finally:
        cap.release()
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="*", default=[str(SHARED / "data" / "videos" / "vtest.avi"),
                                                      str(SHARED / "data" / "videos" / "street-crowd.avi")])
    parser.add_argument("--detect-every", type=int, nargs="+", default=[1, 5])
    add_estimator_arguments(parser)
    parser.add_argument("--workers", type=int, nargs="+", default=[1],
                        help="engine workers to compare, interleaved per video and period (1: the serial loop with "
                             "--threads sessions; N > 1: the pipelined engine, single-threaded sessions)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each configuration (A B A B)")
    parser.add_argument("--max-frames", type=int, default=None)
    parser.add_argument("--out", default="bench_video_out")
    parser.add_argument("--no-save-video", action="store_true")
    parser.add_argument("--snapshots", type=int, nargs="*", default=[10, 60, 150])
    parser.add_argument("--smooth", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from posekit.engine import plan_engine

    plans = {w: plan_engine(w, None if w > 1 else args.threads) for w in args.workers}
    estimators = {w: build_estimator(args, num_threads=plan.threads if w > 1 else args.threads)
                  for w, plan in plans.items()}
    out_root = Path(args.out)
    print(f"load average before: {os.getloadavg()}", flush=True)
    for w, est in estimators.items():
        print(f"workers {w} ({plans[w]}): {est!r}", flush=True)
    rows = []
    for video in args.videos:
        name = Path(video).stem
        for every in args.detect_every:
            for rep in range(args.repeat):
                for workers, estimator in estimators.items():  # interleaved
                    out = out_root / f"{name}_every{every}_w{workers}_r{rep}"
                    estimator.timer.reset()
                    summary = run_video(estimator, video, out, detect_every=every,
                                        save_video=not args.no_save_video, smoothing=args.smooth or None,
                                        progress=False, max_frames=args.max_frames, workers=workers,
                                        threads=plans[workers].threads)
                    stages = estimator.timer.mean_ms(per=summary.frames)
                    row = {"video": name, "detect_every": every, "workers": workers, "run": rep,
                           "frames": summary.frames, "fps": summary.fps, "detections": summary.detections,
                           "tracks": summary.tracks, **summary.tracker, "stages_ms_per_frame": stages,
                           "out": str(out)}
                    rows.append(row)
                    print(f"{name} every={every} workers={workers} run {rep}: {summary.frames} frames, "
                          f"{summary.fps:.2f} frames/s, {summary.tracks} tracks; per frame: "
                          + ", ".join(f"{k} {v:.1f} ms" for k, v in stages.items()), flush=True)
                    if "video" in summary.files and args.snapshots and rep == 0:
                        shots = extract_frames(summary.files["video"], args.snapshots, out, name)
                        print("  snapshots: " + " ".join(str(p) for p in shots), flush=True)
                    (out / "bench.json").write_text(json.dumps(row, indent=2))

    print()
    print(format_table(rows, [
        ("video", "video", 14, ""), ("detect_every", "det/N", 6, ""), ("workers", "workers", 8, ""),
        ("run", "run", 4, ""), ("frames", "frames", 8, ""),
        ("fps", "fps", 7, ".2f"), ("detections", "detect", 8, ""), ("tracks", "tracks", 8, ""),
        ("deleted", "deleted", 9, ""), ("reassociated", "reassoc", 9, ""), ("discarded", "discard", 9, ""),
    ]))
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
