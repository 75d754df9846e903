"""The ``gnnrec`` command line: one module per command, each a small function
that parses its options, builds through the run spec (or the library
function it fronts) and prints; the logic lives in the library, and library
errors reach the user as one line naming the flag (:mod:`gnnrec.cli.session`).
"""
from gnnrec.cli.group import cli, main
from gnnrec.cli import bench, data, evaluate, export, recommend, show, train, tune  # noqa: F401

__all__ = ["cli", "main"]
