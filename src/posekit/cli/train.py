"""``posekit train``: HRNet-style heatmap training of a registered pose network."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys

from ._train_common import add_override_arguments, config_overrides, register_command, run_standalone

__all__ = ["register", "run", "main"]

log = logging.getLogger(__name__)

_HELP = "train a pose network on COCO-format keypoints (needs torch and pyyaml)"
_EPILOG = """\
examples:
  posekit train configs/hrnet_w32_256x192_coco.yaml
  posekit train configs/tiny_hrnet_coco_dev.yaml train.epochs=2 optim.lr=1e-3 model.args.width=16
  torchrun --nproc_per_node=2 -m posekit train configs/hrnet_w32_256x192_coco.yaml train.batch_size=16
Overrides are dotted config keys (section.key=value); unknown keys are rejected.
Writes OUTPUT_DIR/{config.yaml,log.csv,last.pth,best.pth}; 'train.resume=auto' continues
from OUTPUT_DIR/last.pth. The .pth files load with posekit.models.create_model(NAME, checkpoint=...).
Under torchrun each process trains on its share of every epoch (gloo on CPU, nccl on GPU);
only rank 0 writes files.
"""


def register(subparsers: "argparse._SubParsersAction") -> None:
    register_command(subparsers, "train", _HELP, _EPILOG, add_arguments, run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG.yaml", help="training config (see configs/)")
    add_override_arguments(parser, "optim.lr=5e-4")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit")


def run(args: argparse.Namespace) -> int:
    """Load the config, train, report; returns the exit code."""
    missing = [name for name in ("torch", "yaml") if importlib.util.find_spec(name) is None]
    if missing:
        log.error("posekit train needs torch and pyyaml (pip install 'posekit[train]'); missing %s", ", ".join(missing))
        return 1
    import yaml

    from posekit.train.config import ConfigError, config_to_dict, load_config

    try:
        cfg = load_config(args.config, config_overrides(args))
    except (ConfigError, FileNotFoundError) as exc:
        log.error("%s", exc)
        return 2
    if args.print_config:
        sys.stdout.write(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
        return 0

    from posekit.models.checkpoint import CheckpointError
    from posekit.train.dataset import ImageReadError
    from posekit.train.trainer import train

    try:
        summary = train(cfg)
    except (ConfigError, FileNotFoundError, ImageReadError, CheckpointError, ValueError) as exc:
        log.error("%s", exc)
        return 1
    best = f", best AP {summary.best_ap:.4f}" if summary.best_ap >= 0 else ""
    log.info("%d epoch(s), %d step(s)%s; files in %s", summary.epochs_done, summary.step, best, summary.output_dir)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m posekit.cli.train CONFIG.yaml ...`` (the same as ``posekit train``)."""
    return run_standalone("posekit train", _HELP, _EPILOG, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
