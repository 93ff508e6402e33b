"""``posekit show-targets``: write augmented training crops with their targets as PNGs."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ._train_common import register_command, run_standalone

__all__ = ["register", "run", "main"]

log = logging.getLogger(__name__)

_HELP = "draw augmented training crops with keypoint labels and their targets (heatmaps or SimCC) (PNG)"
_EPILOG = """\
examples:
  posekit show-targets person_keypoints.json --images images/ --out targets/ -n 16
  posekit show-targets person_keypoints.json --images images/ --out t/ --config configs/tiny_hrnet_coco_dev.yaml
  posekit show-targets person_keypoints.json --images images/ --out t/ --set augment.rotation_prob=1 --set data.sigma=3
Each PNG: left, the augmented crop with the labelled skeleton; right, the Gaussian targets
(max over joints; SimCC models such as RTMPose: the map each joint's x and y target vectors
span) over the dimmed crop with the labels as white dots (they should sit on the peaks).
The caption names the drawn augmentation (flip, rotation, half-body).
"""


def register(subparsers: "argparse._SubParsersAction") -> None:
    register_command(subparsers, "show-targets", _HELP, _EPILOG, add_arguments, run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", metavar="DATASET_JSON", help="COCO person-keypoint annotations")
    p.add_argument("--images", required=True, metavar="DIR", help="image folder")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder for the PNGs")
    p.add_argument("-n", "--num", type=int, default=16, metavar="N", help="number of samples (default 16)")
    p.add_argument("--config", metavar="CONFIG.yaml",
                   help="training config for model/augmentation settings (default: HRNet defaults)")
    p.add_argument("--epoch", type=int, default=0, help="epoch whose augmentation draws to show (default 0)")
    p.add_argument("--no-augment", action="store_true", help="plain ground-truth-box crops")
    p.add_argument("--zoom", type=int, default=2, help="magnification of the PNGs (default 2)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override (repeatable), e.g. --set augment.flip_prob=1")


def run(args: argparse.Namespace) -> int:
    """Render ``-n`` samples (spread over the dataset); returns the exit code."""
    import cv2
    import numpy as np

    try:
        import yaml  # noqa: F401 - the config reader's dependency, checked up front
    except ImportError:
        log.error("posekit show-targets needs pyyaml (pip install 'posekit[train]')")
        return 1
    from posekit.train.config import ConfigError, load_config
    from posekit.train.dataset import ImageReadError, KeypointDataset, load_coco_persons
    from posekit.io import atomic_write_bytes
    from posekit.train.modeling import resolve_spec
    from posekit.train.visualize import render_sample

    overrides = list(args.overrides)
    if args.no_augment:
        overrides.append("augment.enabled=false")
    try:
        cfg = load_config(args.config, overrides)
        spec, schema = resolve_spec(cfg.model, cfg.data)
        records = load_coco_persons(args.dataset, args.images, spec.num_keypoints, schema=schema)
        if not records:
            raise ValueError(f"{args.dataset}: no person with labelled keypoints")
        dataset = KeypointDataset(
            records, spec, schema, cfg.augment, cfg.data.sigma, cfg.data.joint_weights, cfg.train.seed,
            check_files=False, ignore_exif=cfg.data.ignore_exif,
        )
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        count = max(0, min(args.num, len(dataset)))
        picks = np.linspace(0, len(dataset) - 1, count).round().astype(int) if count else []
        for index in picks:
            sample = dataset.sample(int(index), args.epoch)
            name = out / f"target_{index:05d}_img{sample.record.image_id}.png"
            ok, png = cv2.imencode(".png", render_sample(sample, schema, spec, args.zoom))
            if not ok:
                raise ValueError(f"could not encode {name.name}")
            atomic_write_bytes(name, png.tobytes(), fsync=False)  # Python I/O: any folder name works
    except (ConfigError, FileNotFoundError, ImageReadError, ValueError, KeyError) as exc:
        log.error("%s", exc)
        return 1
    log.info("wrote %d PNG(s) to %s", count, out)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m posekit.cli.show_targets ...`` (the same as ``posekit show-targets``)."""
    return run_standalone("posekit show-targets", _HELP, _EPILOG, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
