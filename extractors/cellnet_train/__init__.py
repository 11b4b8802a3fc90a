"""Training data, trainer and benchmark of the hand-print cell classifier (extractors.cellnet).

`data` renders comb cells through the generator's own pen, fonts and scanner and cuts them
with `extractors.cell_crops.cell_crop` (no torch); `train` builds the set, trains the CNN with
torch and exports ONNX (`tools/train_cells.py` runs it); `bench` is ``plico bench cells``.
"""
