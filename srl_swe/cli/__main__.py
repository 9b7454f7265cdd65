"""`python -m srl_swe.cli …`: the same as `srl-swe …` (used where no console script is installed, e.g. torchrun)."""
import sys

from . import main

sys.exit(main())
