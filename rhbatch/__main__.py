"""``python -m rhbatch``: the same entry point as the ``rhbatch`` console script."""

from rhbatch.cli import main_exit

main_exit()
