"""Pure analysis: numbers in, numbers out. No clock, no I/O, imports only `vramtop.model`."""
