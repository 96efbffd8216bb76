"""``python -m tinygrad_lr``: the same as the ``tinygrad-lr`` command."""

import sys

from tinygrad_lr.cli import main

if __name__ == "__main__":
    sys.exit(main())
