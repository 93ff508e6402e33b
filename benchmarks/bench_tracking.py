"""Tracking benchmark on synthetic videos made from real COCO images.

Each sequence is one multi-person image of ``coco-val-dev`` seen through a
smooth virtual camera over ``--frames`` frames (default ``--camera inside``:
zoom out to 75 % and back while panning left/right and drifting down inside
the freed margin, so every person stays in view; ``--camera zoom-in`` zooms in
to 130 % and pans so that people at the edges leave and re-enter). The
ground-truth keypoints go through the same affine map, and every annotated
person keeps its annotation id as ground-truth track id, so each sequence has
exact per-frame ground truth. Images are chosen deterministically: 2-6 clearly
visible people, no crowd region, no two people overlapping more than
``--max-overlap`` IoU, most people first.

The real :class:`posekit.pipeline.PoseEstimator` runs through
:func:`posekit.video.stream_poses` with the detector every frame and every
``N`` frames. Per sequence it reports MOT-style figures:

* **IDSW** -- ID switches: a ground-truth person matched (OKS >= 0.5, Hungarian)
  to a track id other than the one it was last matched to;
* **IDSWv** -- the same count over the clearly visible people only (at least
  10 labelled keypoints in view), from the same run: where the switches are;
* **Frag** -- fragmentations: a matched ground truth that becomes unmatched and is
  matched again later; **split** -- ground-truth people covered by more than one id;
* **MOTA** = 1 - (FN + FP + IDSW) / GT over the tracked people (non-crowd, at
  least ``--min-keypoints`` labelled keypoints inside the frame); only poses
  with a track id count as hypotheses; a hypothesis matching a person that is
  not tracked (crowd, too few keypoints) is neither TP nor FP;
* **AP** -- COCO keypoint AP over all frames of the sequence (each frame an
  image, every output pose a result, :func:`posekit.evaluation.evaluate_keypoints`);
* tracks created and frames/s.

Targets: 0 ID switches with detection every frame, at most 1 per sequence with
detection every 5 frames.

Usage::

    python benchmarks/bench_tracking.py --sequences 5 --frames 100 --detect-every 1 5
    # the HRNet-contract test-only network (never a default, never shipped):
    python benchmarks/bench_tracking.py --pose-model ../shared/models/test-only/ultralight-simplepose-256x192.onnx
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from _estimator import SHARED, add_estimator_arguments, build_estimator
from _table import format_table
from posekit.evaluation import compute_oks, evaluate_keypoints
from posekit.geometry import apply_affine, box_iou, xywh_to_xyxy
from posekit.video.sources import Frame, FrameSource, SourceInfo
from posekit.video.stream import stream_poses
from posekit.video.tracker import TrackerConfig



# ----------------------------------------------------------------------------- synthetic sequences


CAMERAS = ("inside", "zoom-in")


def camera(t: int, n: int, width: int, height: int, mode: str = "inside") -> np.ndarray:
    """Affine ``(2, 3)`` image -> frame map of the virtual camera at frame ``t`` of ``n``.

    ``"inside"`` (default): zoom out to 0.75 and back while panning left/right
    and drifting down within the margin the zoom frees, so the whole image --
    every person -- stays in view. ``"zoom-in"``: zoom in to 1.3 while panning
    +-10 % of the width, so people near the edges leave the view and come back
    later (re-entries after long absences count as ID switches: the tracker has
    no appearance model to re-identify them).
    """
    u = t / max(n - 1, 1)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    bump = math.sin(math.pi * u) ** 2  # 0 -> 1 -> 0
    if mode == "inside":
        zoom = 1.0 - 0.25 * bump
        tx = (1.0 - zoom) * width / 2 * math.sin(2 * math.pi * u)
        ty = (1.0 - zoom) * height / 2 * 0.8 * math.sin(math.pi * u)
    elif mode == "zoom-in":
        zoom = 1.0 + 0.3 * bump
        tx = 0.10 * width * math.sin(2 * math.pi * u)
        ty = 0.04 * height * math.sin(math.pi * u)
    else:
        raise ValueError(f"camera mode must be one of {CAMERAS}, got {mode!r}")
    return np.array([[zoom, 0.0, cx - zoom * cx + tx], [0.0, zoom, cy - zoom * cy + ty]])


class SyntheticSequence(FrameSource):
    """Frames of one image under :func:`camera`, generated lazily (no files)."""

    def __init__(self, image: np.ndarray, n: int, name: str, fps: float = 25.0, mode: str = "inside") -> None:
        super().__init__()
        self.image = image
        self.n = n
        self.mode = mode
        h, w = image.shape[:2]
        self.info = SourceInfo(kind="video", name=name, fps=fps, width=w, height=h, frame_count=n)

    def _frames(self) -> Iterator[Frame]:
        h, w = self.image.shape[:2]
        for t in range(self.n):
            frame = cv2.warpAffine(self.image, camera(t, self.n, w, h, self.mode), (w, h), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
            self.stats.frames += 1
            yield Frame(t, t / self.info.fps, frame)
        self._finish("end", early=False)


def sequence_ground_truth(anns: list[dict], image: dict, n: int, mode: str = "inside") -> tuple[dict, list[list[dict]]]:
    """COCO ground truth of the whole sequence and the per-frame transformed annotations."""
    w, h = image["width"], image["height"]
    images, annotations, per_frame = [], [], []
    next_id = 1
    for t in range(n):
        m = camera(t, n, w, h, mode)
        zoom = m[0, 0]
        frame_anns = []
        images.append({"id": t + 1, "file_name": f"{t}.jpg", "width": w, "height": h})
        for a in anns:
            kp = np.asarray(a["keypoints"], np.float64).reshape(-1, 3)
            xy = apply_affine(kp[:, :2], m)
            vis = kp[:, 2].copy()
            inside = (xy[:, 0] >= 0) & (xy[:, 0] <= w - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= h - 1)
            vis[~inside] = 0
            xy[vis == 0] = 0
            x, y, bw, bh = a["bbox"]
            corners = apply_affine(np.array([[x, y], [x + bw, y + bh]]), m)
            lo = corners.min(axis=0).clip(0, [w, h])
            hi = corners.max(axis=0).clip(0, [w, h])
            ann = {
                "id": next_id, "image_id": t + 1, "category_id": 1, "iscrowd": a["iscrowd"],
                "track": a["id"], "area": a["area"] * zoom**2,
                "bbox": [lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]],
                "keypoints": np.column_stack([xy, vis]).reshape(-1).tolist(),
                "num_keypoints": int((vis > 0).sum()),
            }
            next_id += 1
            annotations.append(ann)
            frame_anns.append(ann)
        per_frame.append(frame_anns)
    gt = {"images": images, "annotations": annotations,
          "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}
    return gt, per_frame


# ----------------------------------------------------------------------------- metrics


def mot_metrics(per_frame_gt: list[list[dict]], outputs: list[Any], min_keypoints: int, sigmas: np.ndarray,
                oks_threshold: float = 0.5) -> dict[str, Any]:
    """MOT-style counts with OKS matching (see the module docstring)."""
    gt_total = fn = fp = idsw = 0
    last_id: dict[int, int] = {}
    was_matched: dict[int, bool] = {}
    frags = 0
    ids_per_gt: dict[int, set[int]] = defaultdict(set)
    for anns, poses in zip(per_frame_gt, outputs):
        tracked = poses[poses.track_ids >= 0]
        dt = np.concatenate([tracked.keypoints, tracked.keypoint_scores[..., None]], axis=2)
        gts = [a for a in anns if a["num_keypoints"] > 0]
        if gts and len(tracked):
            g_kp = np.array([a["keypoints"] for a in gts]).reshape(len(gts), -1, 3)
            oks = compute_oks(dt, g_kp, np.array([a["area"] for a in gts]), np.array([a["bbox"] for a in gts]), sigmas)
        else:
            oks = np.zeros((len(tracked), len(gts)))
        care = np.array([not a["iscrowd"] and a["num_keypoints"] >= min_keypoints for a in gts], bool)
        gt_total += int(care.sum())
        matched_gt: dict[int, int] = {}
        used_dt: set[int] = set()
        if oks.size:
            rows, cols = linear_sum_assignment(-oks)
            for r, c in zip(rows, cols):
                if oks[r, c] >= oks_threshold:
                    used_dt.add(int(r))
                    if care[c]:
                        matched_gt[int(c)] = int(r)
        for j, a in enumerate(gts):
            if not care[j]:
                continue
            track = a["track"]
            if j in matched_gt:
                pid = int(tracked.track_ids[matched_gt[j]])
                if track in last_id and last_id[track] != pid:
                    idsw += 1
                if was_matched.get(track) is False and track in last_id:
                    frags += 1
                last_id[track] = pid
                was_matched[track] = True
                ids_per_gt[track].add(pid)
            else:
                fn += 1
                if track in was_matched:
                    was_matched[track] = False
        fp += len(tracked) - len(used_dt)
    mota = 1.0 - (fn + fp + idsw) / gt_total if gt_total else float("nan")
    return {"gt": gt_total, "fn": fn, "fp": fp, "idsw": idsw, "frag": frags,
            "split": sum(1 for ids in ids_per_gt.values() if len(ids) > 1), "mota": mota}


# ----------------------------------------------------------------------------- main


VISIBLE_KEYPOINTS = 10  # "clearly visible": at least this many labelled keypoints (and area >= 48²)


def pick_sequences(data: dict, count: int, max_overlap: float = 0.2) -> list[tuple[dict, list[dict]]]:
    """Images with 2-6 clearly visible people (>= 10 keypoints, area >= 48²), no crowd region,
    and no two annotated people overlapping more than ``max_overlap`` IoU; most people first."""
    by_image: dict[int, list[dict]] = defaultdict(list)
    for a in data["annotations"]:
        by_image[a["image_id"]].append(a)
    chosen = []
    for im in data["images"]:
        anns = by_image[im["id"]]
        people = [a for a in anns if not a["iscrowd"] and a["num_keypoints"] >= VISIBLE_KEYPOINTS
                  and a["area"] >= 48**2]
        if not 2 <= len(people) <= 6 or any(a["iscrowd"] for a in anns):
            continue
        boxes = xywh_to_xyxy(np.array([a["bbox"] for a in anns], np.float64))
        iou = box_iou(boxes, boxes)
        np.fill_diagonal(iou, 0.0)
        if iou.max() < max_overlap:
            chosen.append((len(people), im["id"], im, anns))
    chosen.sort(key=lambda c: (-c[0], c[1]))  # most people first, then by id
    return [(im, anns) for _, _, im, anns in chosen[:count]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=5)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--detect-every", type=int, nargs="+", default=[1, 5])
    add_estimator_arguments(parser)
    parser.add_argument("--data", default=str(SHARED / "data" / "coco-val-dev"))
    parser.add_argument("--min-keypoints", type=int, default=5, help="labelled keypoints for a person to be tracked")
    parser.add_argument("--camera", choices=CAMERAS, default="inside", help="virtual camera motion")
    parser.add_argument("--max-overlap", type=float, default=0.2, help="largest IoU between two people of an image")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--workers", type=int, default=1,
                        help="engine workers (1: the serial loop; N > 1: detection frames run ahead on replicas "
                             "with single-threaded sessions -- the same results, checked by the tests)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    estimator = build_estimator(args, num_threads=1 if args.workers > 1 else None)
    sigmas = estimator.schema.sigmas_array()
    data = json.loads((Path(args.data) / "person_keypoints.json").read_text())
    sequences = pick_sequences(data, args.sequences, args.max_overlap)
    print(f"estimator: {estimator!r}; {len(sequences)} sequences x {args.frames} frames: "
          f"{[im['file_name'] for im, _ in sequences]}", flush=True)
    rows = []
    for image_info, anns in sequences:
        image = cv2.imread(str(Path(args.data) / "images" / image_info["file_name"]))
        gt, per_frame = sequence_ground_truth(anns, image_info, args.frames, args.camera)
        for every in args.detect_every:
            source = SyntheticSequence(image, args.frames, image_info["file_name"], mode=args.camera)
            outputs, results = [], []
            start = time.perf_counter()
            threads = 1 if args.workers > 1 else args.threads
            for index, _, poses in stream_poses(estimator, source, detect_every=every, tracker_config=TrackerConfig(),
                                                workers=args.workers, threads=threads):
                outputs.append(poses)
                results.extend(poses.to_coco(index + 1))
            elapsed = time.perf_counter() - start
            mot = mot_metrics(per_frame, outputs, args.min_keypoints, sigmas)
            # The same run judged on the clearly visible people only (the selection's criterion).
            visible = mot_metrics(per_frame, outputs, max(args.min_keypoints, VISIBLE_KEYPOINTS), sigmas)
            ap = evaluate_keypoints(gt, results, sigmas=sigmas)["AP"] if results else 0.0
            ids = {int(i) for p in outputs for i in p.track_ids if i >= 0}
            row = {"image": image_info["file_name"], "people": sum(1 for a in anns if not a["iscrowd"]),
                   "detect_every": every, **mot, "idsw_visible": visible["idsw"], "ap": ap, "tracks": len(ids), "fps": args.frames / elapsed}
            rows.append(row)
            print(f"{row['image']}  every={every}  IDSW={mot['idsw']} (visible: {visible['idsw']})  frag={mot['frag']}  split={mot['split']}  "
                  f"MOTA={mot['mota']:.3f}  AP={ap:.3f}  tracks={len(ids)}  {row['fps']:.1f} fps", flush=True)

    print()
    print(format_table(rows, [
        ("image", "sequence", 18, ""), ("people", "people", 7, ""), ("detect_every", "det/N", 6, ""),
        ("gt", "GT", 6, ""), ("fn", "FN", 6, ""), ("fp", "FP", 5, ""), ("idsw", "IDSW", 5, ""),
        ("idsw_visible", "IDSWv", 6, ""), ("frag", "Frag", 5, ""), ("split", "split", 6, ""),
        ("mota", "MOTA", 7, ".3f"), ("ap", "AP", 7, ".3f"), ("tracks", "tracks", 7, ""), ("fps", "fps", 6, ".1f"),
    ]))
    print()
    ok = True
    for every in args.detect_every:
        sel = [r for r in rows if r["detect_every"] == every]
        worst = max(r["idsw"] for r in sel)
        worst_visible = max(r["idsw_visible"] for r in sel)
        limit = 0 if every == 1 else 1
        passed = worst <= limit
        ok &= passed
        print(f"detect every {every}: total IDSW {sum(r['idsw'] for r in sel)}, worst per sequence {worst} "
              f"(target <= {limit}: {'PASS' if passed else 'FAIL'}), mean MOTA "
              f"{np.mean([r['mota'] for r in sel]):.3f}, mean AP {np.mean([r['ap'] for r in sel]):.3f}, "
              f"mean {np.mean([r['fps'] for r in sel]):.1f} fps; on people with >= {VISIBLE_KEYPOINTS} labelled "
              f"keypoints in view (IDSWv): total {sum(r['idsw_visible'] for r in sel)}, worst {worst_visible}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
