"""Join trained CellNets into one averaging model (see extractors/cellnet_train/ensemble.py).

    .venv/bin/python tools/ensemble_cells.py --out extractors/models MEMBER_DIR MEMBER_DIR...
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from extractors.cellnet_train.ensemble import main

if __name__ == "__main__":
    sys.exit(main())
