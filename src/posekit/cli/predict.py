"""``posekit predict``: images, folders, globs (or videos) -> COCO results JSON (+ rendered images)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from posekit.cli.video import add_video_arguments, is_video_source, run_video_from_args
from posekit.presets import DEFAULT_PRESET, PRESETS, get_preset

__all__ = ["register", "run", "add_model_arguments", "estimator_from_args"]

log = logging.getLogger("posekit.predict")

_EPILOG = """\
examples:
  posekit predict photo.jpg --out out/ --save-img
  posekit predict photos/ "more/*.png" --out out/ --preset fast       # several times faster, less accurate
  posekit predict photos/ --preset accurate                            # flip test: slower, more accurate
  posekit predict images/ --pose-model hrnet_w32_256x192 --checkpoint pose_hrnet_w32_256x192.pth
  posekit predict images/ --pose-model my_model.onnx --detector rtmdet_nano
  posekit predict video.mp4 --out out/ --save-video --detect-every 5
  posekit predict coco/val2017/ --out out/ --ignore-exif     # COCO evaluation: stored pixels, no EXIF turn

outputs in --out:
  results.json         COCO keypoint results (image_id, category_id, keypoints, score)
  summary.json         counts, image id map, per-stage timing, and the list of images that failed
  vis/                 rendered skeletons (--save-img)
  alphapose-results.json and alphapose/NAME.json   (--format alphapose)

exit code: 0 all images processed, 1 some images failed (their results are still written), 2 no input.
Image ids are the numbers in COCO-style names (000000000885.jpg -> 885), else 1..N in sorted order.
"""


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """Options that choose and configure the models (shared with other commands)."""
    g = p.add_argument_group("models")
    g.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET,
                   help=f"named configuration (default {DEFAULT_PRESET}; see 'posekit presets'); the options "
                        "below override its settings")
    g.add_argument("--detector", default=None,
                   help="person detector (default: the preset's): picodet_s_320, picodet_s_192, yolox_nano, "
                        "rtmdet_nano, yolov3_spp, or a YOLOX .onnx path")
    g.add_argument("--detector-checkpoint", help="weights for --detector yolov3_spp (.weights, .pth or .onnx)")
    g.add_argument("--pose-model", default=None,
                   help="pose model (default: the preset's): pp_tinypose_256x192, pp_tinypose_128x96, "
                        "movenet_thunder, movenet_lightning, a PyTorch network name "
                        "(see 'posekit models') with --checkpoint, a path to an .onnx file, or a checkpoint "
                        "written by 'posekit train' (run/best.pth)")
    g.add_argument("--checkpoint", help="weights (.pth) of a PyTorch pose network")
    g.add_argument("--runtime", choices=("onnx", "torch", "openvino"), default="onnx",
                   help="ONNX Runtime (default), torch (PyTorch networks only) or OpenVINO "
                        "(pip install 'posekit[openvino]')")
    g.add_argument("--models-dir", default=None,
                   help="folder with the model files; never downloads into it (default: $POSEKIT_MODELS, else "
                        "~/.cache/posekit/models, where missing files are downloaded)")
    g.add_argument("--threads", type=int, default=None, help="intra-op threads of ONNX Runtime or torch (default: all cores)")
    g = p.add_argument_group("inference")
    g.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                   help="flip test: also run mirrored crops and average (default: the preset's; doubles the "
                        "pose-network time for about 0.01 AP)")
    g.add_argument("--decode", choices=("argmax", "hrnet", "alphapose", "dark"), default=None,
                   help="heatmap decoder (default: the preset's, else the model's own)")
    g.add_argument("--output-kind", choices=("heatmaps", "keypoints"), default=None,
                   help="for MoveNet: decode its heatmaps with posekit's codec or use its own keypoint output")
    g.add_argument("--pose-nms", choices=("oks", "parametric", "none"), default=None,
                   help="duplicate removal: HRNet OKS-NMS, AlphaPose parametric pose NMS, or none (default: the preset's)")
    g.add_argument("--det-conf", type=float, default=None, help="detector confidence threshold (default: the preset's)")
    g.add_argument("--det-nms", type=float, default=None, help="detector NMS IoU threshold (default: the preset's)")
    g.add_argument("--min-box-score", type=float, default=None,
                   help="crop budget: boxes scoring below this get no pose crop (default: the preset's)")
    g.add_argument("--max-crops", type=int, default=None,
                   help="crop budget: at most this many pose crops per image, best boxes first (default: the preset's)")
    g.add_argument("--batch-size", type=int, default=32, help="crops per pose-network call")


def estimator_from_args(args: argparse.Namespace):
    """Build a :class:`~posekit.pipeline.PoseEstimator` from the model options (unset ones: the preset's)."""
    from posekit.pipeline import PoseEstimator

    overrides = {"det_conf": args.det_conf, "det_nms": args.det_nms, "min_box_score": args.min_box_score,
                 "max_crops": args.max_crops}
    preset = get_preset(args.preset).with_(**{k: v for k, v in overrides.items() if v is not None})
    return PoseEstimator(
        args.detector, args.pose_model, preset=preset, models_dir=args.models_dir, checkpoint=args.checkpoint,
        detector_checkpoint=args.detector_checkpoint, runtime=args.runtime, decode=args.decode,
        output=args.output_kind, flip_test=args.flip, pose_nms=args.pose_nms,
        batch_size=args.batch_size, num_threads=args.threads,
    )


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "predict", help="estimate poses in images (or videos)", description=__doc__,
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", help="image files, folders, glob patterns (quoted), or a video / stream")
    p.add_argument("--out", default="out", help="output folder (default: out)")
    p.add_argument("--save-img", action="store_true",
                   help="write rendered skeletons to OUT/vis/ (which ones: --draw-pose-thr, --draw-kpt-thr)")
    p.add_argument("--format", choices=("coco", "alphapose"), default="coco",
                   help="also write AlphaPose-style JSON (alphapose-results.json and one file per image)")
    p.add_argument("--recursive", action="store_true", help="search folders recursively")
    p.add_argument("--ignore-exif", action="store_true",
                   help="ignore the EXIF orientation of photos and frame folders and use the stored pixels, as "
                        "COCO annotations do (needed to evaluate on COCO); default: turn photos upright as a "
                        "photo viewer shows them")
    add_model_arguments(p)
    add_video_arguments(p)
    p.set_defaults(func=run)


def _video_inputs(inputs: list[str]) -> list[str]:
    return [i for i in inputs if is_video_source(i)]


def run(args: argparse.Namespace) -> int:
    from posekit.catalog import ModelFileError

    out = Path(args.out)
    videos = _video_inputs(args.inputs)
    try:
        if videos:
            if len(args.inputs) != 1:
                log.error("give one video / stream at a time (got %d inputs)", len(args.inputs))
                return 2
            return _run_video(args, videos[0], out)
        return _run_images(args, out)
    except (ModelFileError, ValueError, FileNotFoundError, ImportError) as exc:
        log.error("%s", exc)
        return 2


def _run_video(args: argparse.Namespace, source: str, out: Path) -> int:
    return run_video_from_args(args, estimator_from_args(args), source, out)


def _run_images(args: argparse.Namespace, out: Path) -> int:
    import cv2
    from tqdm import tqdm

    from posekit.draw import draw_poses
    from posekit.io import IMAGE_EXTENSIONS, find_images, image_ids_for

    paths = find_images(args.inputs, recursive=args.recursive)
    if not paths:
        log.error("no images found in %s (looked for %s)", " ".join(args.inputs),
                  "/".join(e.lstrip(".") for e in IMAGE_EXTENSIONS))
        return 2
    est = estimator_from_args(args)
    ids = image_ids_for(paths)
    out.mkdir(parents=True, exist_ok=True)
    if args.save_img:
        (out / "vis").mkdir(exist_ok=True)
    results: list[dict] = []
    alphapose: list[dict] = []
    errors: list[dict] = []
    interrupted = False
    finished = 0
    bar = tqdm(total=len(paths), desc="predict", unit="img", disable=args.quiet, file=sys.stderr)
    try:
        for path, image, poses, error in est.predict_files(paths, ignore_orientation=args.ignore_exif):
            bar.update(1)
            finished += 1
            if error is not None:
                log.warning("skipped %s: %s", path, error)
                errors.append({"file": str(path), "reason": error})
                continue
            results.extend(poses.to_coco(ids[path]))
            if args.format == "alphapose":
                alphapose.extend(poses.to_alphapose(path.name))
            if args.save_img:
                drawn = draw_poses(image, poses, pose_thresh=args.draw_pose_thr, keypoint_thresh=args.draw_kpt_thr)
                cv2.imwrite(str(out / "vis" / f"{path.stem}.jpg"), drawn)
    except KeyboardInterrupt:
        interrupted = True
        log.warning("interrupted: writing the results of the images done so far")
    finally:
        bar.close()
        done = len(paths) if not interrupted else finished
        _write_outputs(out, results, alphapose, errors, paths, ids, est, done, args.format == "alphapose")
    ok = done - len(errors)
    log.info("%d/%d images processed, %d failed, %d poses -> %s", ok, len(paths), len(errors), len(results),
             out / "results.json")
    log.info("per image: %s", est.timer.summary(per=max(1, ok)))
    if interrupted:
        return 130
    return 1 if errors else 0


def _write_outputs(out, results, alphapose, errors, paths, ids, est, done, write_alphapose) -> None:
    _write_json(out / "results.json", results)
    summary = {
        "images": len(paths),
        "processed": done - len(errors),
        "failed": len(errors),
        "poses": len(results),
        "errors": errors,
        "image_ids": {str(p): i for p, i in ids.items()},
        "timing_ms_per_image": est.timer.mean_ms(per=max(1, done - len(errors))),
        "estimator": repr(est),
    }
    _write_json(out / "summary.json", summary)
    if write_alphapose:
        _write_json(out / "alphapose-results.json", alphapose)
        per_image = out / "alphapose"
        per_image.mkdir(exist_ok=True)
        by_name: dict[str, list] = {}
        for item in alphapose:
            by_name.setdefault(item["image_id"], []).append(item)
        for name, items in by_name.items():
            _write_json(per_image / f"{Path(name).stem}.json", items)


def _write_json(path: Path, data) -> None:
    """Write JSON atomically (temp file + rename) so an interrupted run never leaves half a file."""
    from posekit.io import atomic_write_json

    atomic_write_json(path, data)
