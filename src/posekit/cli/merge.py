"""``posekit merge``: rebuild a job's result files from its committed records."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

__all__ = ["register", "run"]

log = logging.getLogger("posekit.merge")

_EPILOG = """\
examples:
  posekit merge out/                                  # results.json and summary.json again
  posekit merge out/ --format parquet --format openpose

Reads OUT/records/*.jsonl (what 'posekit predict' commits image by image; cut-short
lines of a killed run are ignored) and writes results.json, summary.json and the
formats asked for, exactly as a finished run writes them.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "merge", help="rebuild results.json and other formats from a job's records", description=__doc__,
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out", help="the output folder of a 'posekit predict' job")
    p.add_argument("--format", action="append", choices=("coco", "alphapose", "openpose", "parquet"), default=None,
                   help="formats besides COCO results.json (repeatable)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from posekit.batch import scan_records, write_outputs
    from posekit.batch.records import has_records

    out = Path(args.out)
    if not has_records(out):
        log.error("%s holds no job records (records/part-*.jsonl)", out)
        return 2
    try:
        summary = write_outputs(out, scan_records(out), args.format or ("coco",))
    except (ImportError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    log.info("%d images (%d failed), %d poses -> %s", summary["images"], summary["failed"], summary["poses"],
             out / "results.json")
    return 0
