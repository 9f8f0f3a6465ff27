"""The zoo command line: each command parses, calls the library, prints.

TensorFlow is imported only inside the commands that train, evaluate or
export, so ``zoo list``, ``zoo plugins`` and ``zoo predict`` stay fast. The
group and what commands share are in ``base``; the commands, in
``catalogue``, ``training`` and ``files``, are registered on it when their
module is imported: when the group is asked for one of them.
"""
from zoo.cli.base import cli, main  # noqa: F401 - zoo.cli:main is the console script
