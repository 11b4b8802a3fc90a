"""Everything that looks at pixels: rasterise, orient, barcodes, classify, register, read."""
