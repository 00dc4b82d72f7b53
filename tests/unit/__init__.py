"""Unit tests for prefect-giga: no network, every reply hand-built or mocked with respx."""
