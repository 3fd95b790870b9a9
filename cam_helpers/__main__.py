"""``python -m cam_helpers``: the command line (:mod:`cam_helpers.cli`)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
