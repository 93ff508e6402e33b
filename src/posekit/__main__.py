"""``python -m posekit`` runs the command line (also under ``torchrun``)."""

import sys

from posekit.cli import main

if __name__ == "__main__":
    sys.exit(main())
