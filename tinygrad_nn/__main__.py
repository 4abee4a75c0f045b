"""``python -m tinygrad_nn COMMAND ...``: see :mod:`tinygrad_nn.cli`."""

from .cli import main

raise SystemExit(main())
