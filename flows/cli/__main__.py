"""`python -m flows.cli`: the `massiv` command without its console script."""

from flows.cli import main

main()
