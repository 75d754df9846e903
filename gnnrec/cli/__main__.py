"""``python -m gnnrec.cli``: the command line."""
from gnnrec.cli import main

main()
