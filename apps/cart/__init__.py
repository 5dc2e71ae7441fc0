"""Cart: carts, their lines, and checkout (the order record)."""
