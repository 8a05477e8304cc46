"""The ``haechi`` command: one module per command group, each a thin door onto :class:`haechi.Haechi`."""
