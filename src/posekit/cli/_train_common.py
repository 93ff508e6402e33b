"""Parser plumbing shared by the training-side subcommands (``train``, ``val``, ``show-targets``).

Each of them runs as ``posekit NAME ...`` and also on its own as ``python -m posekit.cli.MODULE ...``;
:func:`register_command` and :func:`run_standalone` build those two parsers the same way from
the module's help texts, its ``add_arguments(parser)`` and its ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

__all__ = ["register_command", "run_standalone", "add_override_arguments", "config_overrides"]

AddArguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]


def register_command(
    subparsers: "argparse._SubParsersAction",
    name: str,
    help_text: str,
    epilog: str,
    add_arguments: AddArguments,
    run: Run,
) -> None:
    """Add the subcommand ``name`` (help and description ``help_text``) whose ``func`` is ``run``."""
    parser = subparsers.add_parser(
        name, help=help_text, description=help_text, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def run_standalone(
    prog: str, help_text: str, epilog: str, add_arguments: AddArguments, run: Run, argv: list[str] | None
) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), log INFO and up to stderr, and return ``run(args)``."""
    parser = argparse.ArgumentParser(
        prog=prog, description=help_text, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    return run(args)


def add_override_arguments(parser: argparse.ArgumentParser, example: str) -> None:
    """Positional ``KEY=VALUE`` config overrides and a repeatable ``--set KEY=VALUE`` (``example`` in the help)."""
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help=f"config overrides, e.g. {example}")
    parser.add_argument("--set", dest="extra_overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=f"an override placed after other options (repeatable), e.g. {example}")


def config_overrides(args: argparse.Namespace) -> list[str]:
    """The overrides of :func:`add_override_arguments` in the order they apply: positional, then ``--set``."""
    return list(args.overrides) + list(args.extra_overrides)
