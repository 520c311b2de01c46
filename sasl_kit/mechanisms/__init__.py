"""One module per mechanism family; each imports nothing from the protocol layers."""
