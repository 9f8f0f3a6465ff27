"""The zoo command line: each command parses, calls the library, prints.

TensorFlow is imported only inside the commands that train, evaluate or
export, so ``zoo list``, ``zoo plugins`` and ``zoo predict`` stay fast. The
group and what commands share are in ``base``; the commands, registered on
it as their modules are imported, in ``catalogue``, ``training`` and ``files``.
"""
from zoo.cli import catalogue, files, training  # noqa: F401 - registers the commands, in this order
from zoo.cli.base import cli, main  # noqa: F401 - zoo.cli:main is the console script

if __name__ == "__main__":
    main()
