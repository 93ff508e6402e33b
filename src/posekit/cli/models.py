"""``posekit models``: every model of the catalogue, whether its file is present and where it was found
(models dir, the files packaged with posekit, or the user cache)."""

from __future__ import annotations

import argparse
import os

__all__ = ["register", "run"]


def register(subparsers) -> None:
    p = subparsers.add_parser("models", help="list models and whether their files are present", description=__doc__)
    p.add_argument("--models-dir", default=None,
                   help="folder with the model files (default: $POSEKIT_MODELS, then the files packaged with "
                        "posekit, then ~/.cache/posekit/models)")
    p.add_argument("--no-verify", action="store_true", help="skip the sha256 check of present files")
    p.set_defaults(func=run)


def _status(entry, models_dir, verify: bool) -> tuple[str, str]:
    """``(status, where)``: status ``present`` / ``missing`` / ``corrupt``, where the file was found
    (``models dir`` / ``package`` / ``cache`` / ``missing``). Never downloads."""
    from posekit import catalog

    where, path = catalog.locate(entry.file, models_dir)
    if path is None:
        return "missing", where
    if verify and entry.file.sha256 is not None and catalog.file_sha256(path) != entry.file.sha256:
        return "corrupt", where
    return "present", where


def run(args: argparse.Namespace) -> int:
    from posekit import catalog

    managed = catalog.resolve_models_dir(args.models_dir) if (args.models_dir or os.environ.get("POSEKIT_MODELS")) else None
    print("files are looked up in this order:")
    if managed is not None:
        print(f"  models dir: {managed}  (--models-dir / POSEKIT_MODELS; never downloaded into)")
    else:
        print("  models dir: not set (--models-dir / POSEKIT_MODELS)")
    print(f"  package:    {catalog.package_weights_dir()}  (shipped with posekit: the fast/balanced/accurate presets)")
    if managed is None:
        print(f"  cache:      {catalog.default_models_dir()}  (downloads go here; POSEKIT_MODELS_URL sets a mirror)")
    else:
        print("  cache:      not used while a models dir is set")
    print(f"\n{'name':36s} {'task':10s} {'runtime':8s} {'status':8s} {'where':10s} {'licence':14s} file")
    for entry in catalog.list_entries():
        status, where = _status(entry, args.models_dir, verify=not args.no_verify)
        print(f"{entry.name:36s} {entry.task:10s} {entry.runtime:8s} {status:8s} {where:10s} {entry.license[:14]:14s} "
              f"{entry.file.name}")
    print("\nruntime 'torch' networks need torch (pip install 'posekit[torch]') and their checkpoint (--checkpoint);")
    print("they run through ONNX Runtime after an in-memory export unless --runtime torch.\n")
    from posekit.cli.presets import format_presets

    print(format_presets())
    return 0
