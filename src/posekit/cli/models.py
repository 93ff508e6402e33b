"""``posekit models``: every model of the catalogue, whether its file is present and where it was found
(models dir, the files packaged with posekit, or the user cache), else whether it downloads on first use,
and how each file is verified (sha256, sha256 prefix, pinned at the first download, or not at all)."""

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


#: ``posekit models``'s status of an entry that is not present, by :data:`posekit.catalog.AVAILABILITY` state.
_ABSENT = {"downloads": "downloads", "blocked": "blocked", "unavailable": "missing"}


def _status(entry, models_dir, verify: bool) -> tuple[str, str, object, str]:
    """``(status, where, file, verified by)``: status ``present`` / ``corrupt`` / ``downloads`` / ``blocked`` /
    ``missing``, where the file was found (``models dir`` / ``package`` / ``cache`` / ``missing``), which of the
    entry's files it is (:func:`posekit.catalog.resolve`) and how it is checked: a present file by the rule that
    applies where it is (``none (no pin)`` for a ``pinned`` file without its pin, :func:`posekit.catalog.integrity_of`),
    a missing one by how its download is. Never downloads, replaces or pins a file (:func:`posekit.catalog.check`)."""
    from posekit import catalog

    found = catalog.resolve(entry.files, models_dir)
    if found.state != "present":
        return _ABSENT[found.state], "missing", found.file, found.file.integrity
    rule = catalog.integrity_of(found.file, found.origin, found.path)
    if rule == "none" and found.file.integrity == "pinned":
        rule = "none (no pin)"
    if verify:
        try:
            catalog.check(found.file, found.origin, found.path, label=entry.name)
        except catalog.ModelFileCorrupt:
            return "corrupt", found.origin, found.file, rule
    return "present", found.origin, found.file, rule


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
    print(f"\n{'name':36s} {'task':10s} {'runtime':8s} {'status':9s} {'where':10s} {'verified by':13s} "
          f"{'licence':14s} file")
    blocked = unpinned = False
    for entry in catalog.list_entries():
        status, where, file, verified_by = _status(entry, args.models_dir, verify=not args.no_verify)
        blocked = blocked or status == "blocked"
        unpinned = unpinned or verified_by == "none (no pin)"
        print(f"{entry.name:36s} {entry.task:10s} {entry.runtime:8s} {status:9s} {where:10s} {verified_by:13s} "
              f"{entry.license[:14]:14s} {file.name}")
    print("\nstatus 'downloads': fetched into the cache on first use (POSEKIT_MODELS_URL sets a mirror; zips are")
    print("extracted). Verified by 'sha256': the published digest; 'sha256 prefix': the 8 hex digits of OpenMMLab's file")
    print("names; 'pinned': no digest is published, the first download's sha256 is recorded and later uses must match;")
    print("'none': files you provide, not verified and never downloaded.")
    if unpinned:
        print("'none (no pin)': a 'pinned' file without its <file>.pin.json beside it, so nothing checks it (pins are")
        print("written for files in the cache, at their download or first use; copy the pin with a file you move).")
    if blocked:
        print("status 'blocked': it would download on first use, but cannot now: POSEKIT_OFFLINE is set.")
    print("runtime 'torch' networks need torch (pip install 'posekit[torch]') and their checkpoint (--checkpoint or")
    print("the download); they run through ONNX Runtime after an in-memory export unless --runtime torch.\n")
    from posekit.cli.presets import format_presets

    print(format_presets(args.models_dir))
    return 0
