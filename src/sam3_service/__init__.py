"""sam3-service: a production service for Meta's SAM 3."""

__version__ = "0.1.0"
