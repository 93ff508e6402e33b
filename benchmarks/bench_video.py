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
"""

from __future__ import annotations

import argparse
import json
import logging
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
    parser.add_argument("--max-frames", type=int, default=None)
    parser.add_argument("--out", default="bench_video_out")
    parser.add_argument("--no-save-video", action="store_true")
    parser.add_argument("--snapshots", type=int, nargs="*", default=[10, 60, 150])
    parser.add_argument("--smooth", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    estimator = build_estimator(args)
    out_root = Path(args.out)
    print(f"estimator: {estimator!r}", flush=True)
    rows = []
    for video in args.videos:
        name = Path(video).stem
        for every in args.detect_every:
            out = out_root / f"{name}_every{every}"
            estimator.timer.reset()
            summary = run_video(estimator, video, out, detect_every=every, save_video=not args.no_save_video,
                                smoothing=args.smooth or None, progress=False, max_frames=args.max_frames)
            stages = estimator.timer.mean_ms(per=summary.frames)
            row = {"video": name, "detect_every": every, "frames": summary.frames, "fps": summary.fps,
                   "detections": summary.detections, "tracks": summary.tracks, **summary.tracker,
                   "stages_ms_per_frame": stages, "out": str(out)}
            rows.append(row)
            print(f"{name} every={every}: {summary.frames} frames, {summary.fps:.2f} frames/s, "
                  f"{summary.tracks} tracks; per frame: " + ", ".join(f"{k} {v:.1f} ms" for k, v in stages.items()),
                  flush=True)
            if "video" in summary.files and args.snapshots:
                shots = extract_frames(summary.files["video"], args.snapshots, out, name)
                print("  snapshots: " + " ".join(str(p) for p in shots), flush=True)
            (out / "bench.json").write_text(json.dumps(row, indent=2))

    print()
    print(format_table(rows, [
        ("video", "video", 14, ""), ("detect_every", "det/N", 6, ""), ("frames", "frames", 8, ""),
        ("fps", "fps", 7, ".2f"), ("detections", "detect", 8, ""), ("tracks", "tracks", 8, ""),
        ("deleted", "deleted", 9, ""), ("reassociated", "reassoc", 9, ""), ("discarded", "discard", 9, ""),
    ]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
