"""`python -m sam3_service` is the `sam3-service` command."""

from .cli import app

app()
