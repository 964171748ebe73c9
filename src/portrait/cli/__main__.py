"""`python -m portrait.cli`."""

from portrait.cli import main

main()
