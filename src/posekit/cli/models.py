"""``posekit models``: every model of the catalogue, and whether its file is present."""

from __future__ import annotations

import argparse

__all__ = ["register", "run"]


def register(subparsers) -> None:
    p = subparsers.add_parser("models", help="list models and whether their files are present", description=__doc__)
    p.add_argument("--models-dir", default=None,
                   help="folder with the model files (default: $POSEKIT_MODELS or ~/.cache/posekit/models)")
    p.add_argument("--no-verify", action="store_true", help="skip the sha256 check of present files")
    p.set_defaults(func=run)


def _status(entry, directory, verify: bool) -> str:
    """``present`` / ``missing`` / ``corrupt`` for a file in ``directory`` (never downloads)."""
    from posekit import catalog

    path = directory / entry.file.name
    if not path.is_file():
        return "missing"
    try:
        catalog.fetch(entry.file, directory, verify=verify, label=entry.name)
    except catalog.ModelFileCorrupt:
        return "corrupt"
    except catalog.ModelFileMissing:
        return "missing"
    return "present"


def run(args: argparse.Namespace) -> int:
    from posekit import catalog

    directory = catalog.resolve_models_dir(args.models_dir)
    print(f"models directory: {directory}")
    print(f"{'name':36s} {'task':10s} {'runtime':8s} {'status':8s} {'licence':14s} file")
    for entry in catalog.list_entries():
        status = _status(entry, directory, verify=not args.no_verify)
        print(f"{entry.name:36s} {entry.task:10s} {entry.runtime:8s} {status:8s} {entry.license[:14]:14s} {entry.file.name}")
    print("\nruntime 'torch' networks need torch (pip install 'posekit[torch]') and their checkpoint (--checkpoint);")
    print("they run through ONNX Runtime after an in-memory export unless --runtime torch.\n")
    from posekit.cli.presets import format_presets

    print(format_presets())
    return 0
