"""``posekit val``: COCO keypoint AP of a pose network on GT boxes or a detections file."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from ._train_common import add_override_arguments, config_overrides, register_command, run_standalone

__all__ = ["register", "run", "main"]

log = logging.getLogger(__name__)

_HELP = "validation AP of a trained pose network (ground-truth boxes or detections)"
_EPILOG = """\
examples:
  posekit val configs/tiny_hrnet_coco_dev.yaml                 # OUTPUT_DIR/best.pth on data.val_*
  posekit val runs/tiny_hrnet/best.pth --gt person_keypoints.json --images images/
  posekit val pose_hrnet_w32_256x192.pth --model hrnet_w32_256x192 --gt val.json --images val2017/ \\
      --detections COCO_val2017_detections_AP_H_56_person.json --det-thr 0.0
SOURCE is a training config (.yaml; weights from --checkpoint or OUTPUT_DIR/best.pth) or a
checkpoint (.pth): posekit checkpoints carry their model and config; official ones need --model.
Prints AP AP50 AP75 APm APl AR AR50 AR75 ARm ARl, one per line (or JSON with --json).
"""


def register(subparsers: "argparse._SubParsersAction") -> None:
    register_command(subparsers, "val", _HELP, _EPILOG, add_arguments, run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="CONFIG_OR_CHECKPOINT", help="training config (.yaml) or checkpoint (.pth)")
    add_override_arguments(p, "val.flip=false")
    p.add_argument("--checkpoint", metavar="F", help="weights (default: OUTPUT_DIR/best.pth of the config)")
    p.add_argument("--model", metavar="NAME", help="registered model name, for checkpoints without a config")
    p.add_argument("--gt", metavar="JSON", help="COCO person-keypoint ground truth (default: data.val_json)")
    p.add_argument("--images", metavar="DIR", help="image folder (default: data.val_images)")
    p.add_argument("--detections", metavar="JSON",
                   help="crop from these person boxes (COCO results) instead of GT boxes")
    p.add_argument("--det-thr", type=float, metavar="T",
                   help="drop detections scoring below T (default: val.det_score_threshold)")
    flip = p.add_mutually_exclusive_group()
    flip.add_argument("--flip", dest="flip", action="store_true", default=None, help="flip test (default: val.flip)")
    flip.add_argument("--no-flip", dest="flip", action="store_false", help="no flip test")
    p.add_argument("--decode", help="heatmap decoder: argmax, hrnet, alphapose, dark (default: the model's)")
    p.add_argument("--batch-size", type=int, metavar="N", help="crops per forward pass (default: val.batch_size)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="compute device (default: train.device)")
    p.add_argument("--out", metavar="FILE", help="also write the COCO keypoint results JSON here")
    p.add_argument("--json", action="store_true", help="print the stats as one JSON object")


def _cli_overrides(args: argparse.Namespace) -> list[str]:
    pairs = [
        ("data.val_json", args.gt), ("data.val_images", args.images), ("val.detections", args.detections),
        ("val.det_score_threshold", args.det_thr), ("val.flip", args.flip), ("val.decode", args.decode),
        ("val.batch_size", args.batch_size), ("train.device", args.device), ("model.name", args.model),
    ]
    return [f"{k}={v}" for k, v in pairs if v is not None]


def _resolve(args: argparse.Namespace):  # -> tuple[TrainConfig, Path, dict | None]
    """Config, weights file and (for posekit checkpoints) the stored model info."""
    from posekit.train.config import ConfigError, apply_overrides, config_from_dict, load_config

    source = Path(args.source)
    overrides = config_overrides(args) + _cli_overrides(args)
    if source.suffix.lower() in (".yaml", ".yml"):
        cfg = load_config(source, overrides)
        weights = Path(args.checkpoint) if args.checkpoint else Path(cfg.train.output_dir) / "best.pth"
        if not weights.is_file():
            raise FileNotFoundError(f"no weights: {weights} does not exist (pass --checkpoint)")
        info = None
    else:
        weights = source
        import torch

        raw = torch.load(weights, map_location="cpu", weights_only=True) if weights.is_file() else None
        if raw is None:
            raise FileNotFoundError(f"checkpoint {weights} does not exist")
        stored = raw.get("config") if isinstance(raw, dict) else None
        info = raw.get("model") if isinstance(raw, dict) and isinstance(raw.get("model"), dict) else None
        if stored is None and not args.model:
            raise ConfigError(f"{weights} has no posekit config: pass --model NAME (see 'posekit models')")
        cfg = config_from_dict(apply_overrides(stored or {}, overrides))
        if args.model and info is not None and args.model != info.get("name"):
            info = None
    return cfg, weights, info


def run(args: argparse.Namespace) -> int:
    """Validate and print the 10 COCO stats; returns the exit code."""
    try:
        import torch
    except ImportError as exc:
        log.error("posekit val needs torch (pip install 'posekit[torch]'): %s", exc)
        return 1
    from posekit.evaluation import format_stats, load_coco_json
    from posekit.models.checkpoint import CheckpointError
    from posekit.models.registry import create_model
    from posekit.spec import PoseModelSpec
    from posekit.schema import get_schema
    from posekit.train.config import ConfigError
    from posekit.train.dataset import ImageReadError, check_images_exist, load_coco_persons, load_detection_persons
    from posekit.train.distributed import DistContext, pick_device
    from posekit.train.modeling import resolve_spec
    from posekit.train.validation import validate

    try:
        cfg, weights, info = _resolve(args)
        if info is not None and info.get("spec"):
            spec = PoseModelSpec.from_json(info["spec"])
            schema = get_schema(spec.schema)
        else:
            spec, schema = resolve_spec(cfg.model, cfg.data)
        model_args = dict(info.get("args", {})) if info is not None else dict(cfg.model.args)
        model = create_model(cfg.model.name, checkpoint=weights, **model_args)
        gt = load_coco_json(cfg.data.val_json)
        if cfg.val.detections:
            records = load_detection_persons(
                cfg.val.detections, gt, cfg.data.val_images, cfg.val.det_score_threshold, spec.num_keypoints
            )
        else:
            records = load_coco_persons(gt, cfg.data.val_images, spec.num_keypoints, schema=schema)
        check_images_exist(records)
        device = pick_device(cfg.train.device)
        model.to(device)
        amp = torch.bfloat16 if device.type == "cuda" and cfg.train.amp != "off" else None
        stats, results = validate(
            model, records, gt, spec, schema, DistContext(device=device),
            flip=cfg.val.flip, decode=cfg.val.decode, batch_size=cfg.val.batch_size,
            in_vis_threshold=cfg.val.in_vis_threshold, oks_nms_threshold=cfg.val.oks_nms_threshold,
            workers=min(cfg.train.workers, os.cpu_count() or 1), autocast_dtype=amp,
            ignore_exif=cfg.data.ignore_exif,
        )
    except (ConfigError, FileNotFoundError, ImageReadError, CheckpointError, ValueError, KeyError) as exc:
        log.error("%s", exc)
        return 1
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results))
        log.info("wrote %d results to %s", len(results), args.out)
    sys.stdout.write((json.dumps(stats) if args.json else format_stats(stats)) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m posekit.cli.val ...`` (the same as ``posekit val``)."""
    return run_standalone("posekit val", _HELP, _EPILOG, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
