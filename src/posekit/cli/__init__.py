"""The ``posekit`` command line.

Each subcommand lives in its own module under :mod:`posekit.cli` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a
function ``run(args) -> int`` (the exit code). Subcommand modules import heavy
dependencies (torch, onnxruntime) inside ``run``, never at module level, so
``posekit --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

__all__ = ["main", "build_parser", "version"]

#: Subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS = ("predict", "merge", "eval", "models", "presets", "export", "quantize", "train", "val", "show_targets",
               "serve")

_DESCRIPTION = """\
posekit: multi-person 2D human pose estimation on the CPU.

A person detector finds people, each person is cropped and passed through a
single-person pose network, heatmaps are decoded to keypoints, mapped back to
the image and duplicate poses are removed (OKS-NMS or AlphaPose's parametric pose NMS).

Typical use:
  posekit predict photos/ --out out/ --save-img      # skeletons + results.json
  posekit eval out/results.json --gt person_keypoints.json
  posekit predict photos/ --preset fast              # presets: fast, balanced (default), accurate, movenet
  posekit presets                                    # the presets with measured AP and images/s
  posekit models                                     # which model files are present, and where
Run 'posekit COMMAND --help' for the options of each command.
"""


def version() -> str:
    """The installed distribution's version (``importlib.metadata``), else ``posekit.__version__``."""
    from importlib import metadata

    try:
        return metadata.version("posekit")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        from posekit import __version__

        return __version__


class _Parser(argparse.ArgumentParser):
    """argparse with a short error for commands that have examples: the positional usage, the
    error, the first examples of the command's epilog and where the full help is (exit 2)."""

    def error(self, message: str):  # type: ignore[override]
        examples = _examples(self.epilog or "")
        if not examples:
            super().error(message)
        needed = [a for a in self._actions if (a.required or not a.option_strings) and a.help is not argparse.SUPPRESS]
        formatter = self._get_formatter()
        formatter.add_usage(None, needed, [], prefix="usage: ")
        usage = formatter.format_help().strip()
        lines = [f"{usage} [options]", f"{self.prog}: error: {message}", "example:" if len(examples) == 1 else "examples:",
                 *examples, f"Run '{self.prog} --help' for every option."]
        self.exit(2, "\n".join(lines) + "\n")


def _examples(epilog: str, limit: int = 3) -> list[str]:
    """The first ``limit`` lines of an epilog's ``example(s):`` block."""
    lines = epilog.splitlines()
    for i, line in enumerate(lines):
        if line.strip() in ("example:", "examples:"):
            block = []
            for item in lines[i + 1:]:
                if not item.strip():
                    break
                block.append(item)
            return block[:limit]
    return []


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="posekit", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"posekit {version()}")
    _add_verbosity(parser, argparse.SUPPRESS)
    parser.set_defaults(verbose=0, quiet=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"posekit.cli.{name}").register(sub)
    for subparser in sub.choices.values():  # -v / -q also after the command name
        _add_verbosity(subparser, argparse.SUPPRESS)
    return parser


def _add_verbosity(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("-v", "--verbose", action="count", default=default, help="more log output (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", default=default, help="only warnings and errors")


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _setup_logging(args.verbose, args.quiet)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # output piped into e.g. `head`: stop quietly
        sys.stderr.close()
        return 0
