"""``python -m cam_helpers``: the command line (:mod:`cam_helpers.cli`)."""
import sys

from .cli import main

sys.exit(main())
