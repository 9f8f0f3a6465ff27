"""``python -m zoo.cli``: the zoo command."""
from zoo.cli.base import main

main()
