"""`python -m service` runs the pricecast CLI."""

from service.cli import main

main()
