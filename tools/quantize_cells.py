"""Quantize the cell classifier to 8 bits (see extractors/cellnet_train/quantize.py).

    .venv/bin/python tools/quantize_cells.py --dir extractors/models
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from extractors.cellnet_train.quantize import main

if __name__ == "__main__":
    sys.exit(main())
