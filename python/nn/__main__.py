"""python -m nn: the same as the `nn` command."""

from .cli import main

raise SystemExit(main())
