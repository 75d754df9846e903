"""python -m gnnrec: the command line."""
from gnnrec.cli import main

main()
