"""``posekit models``: the models posekit knows, and whether their files are present."""

from __future__ import annotations

import argparse

__all__ = ["register", "run"]


def register(subparsers) -> None:
    p = subparsers.add_parser("models", help="list models and whether their files are present", description=__doc__)
    p.add_argument("--models-dir", default=None,
                   help="folder with the model files (default: $POSEKIT_MODELS or ~/.cache/posekit/models)")
    p.add_argument("--no-verify", action="store_true", help="skip the sha256 check of present files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from posekit import hub

    directory = hub.resolve_models_dir(args.models_dir)
    print(f"models directory: {directory}")
    print(f"{'name':32s} {'task':10s} {'status':10s} {'licence':14s} file")
    for m in hub.list_model_files():
        try:
            hub.model_file_path(m.name, directory, verify=not args.no_verify)
            status = "present"
        except hub.ModelFileError as exc:
            status = "corrupt" if "corrupt" in str(exc) else "missing"
        print(f"{m.name:32s} {m.task:10s} {status:10s} {m.licence:14s} {m.filename}")
    try:
        from posekit.models.registry import get_pretrained_config, list_models
    except ImportError:
        print("\nPyTorch networks: install posekit[torch] to list and run them")
        return 0
    print("\nPyTorch networks (need --checkpoint; run through ONNX Runtime by default):")
    for name in list_models():
        cfg = get_pretrained_config(name)
        print(f"{name:36s} {cfg.task:10s} {cfg.license[:34]:34s} {cfg.checkpoint_file or ''}")
    return 0
