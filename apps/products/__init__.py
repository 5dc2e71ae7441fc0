"""Products: the catalog: categories, products, prices, status."""
