"""Categories: each shop's category tree, and category-based product filtering."""
