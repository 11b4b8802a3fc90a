"""Train the hand-print cell classifier and export it (see extractors/cellnet_train/train.py).

    .venv/bin/python tools/train_cells.py --out extractors/models
    .venv/bin/python tools/train_cells.py --tiny --out /tmp/cellnet
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from extractors.cellnet_train.train import main

if __name__ == "__main__":
    sys.exit(main())
