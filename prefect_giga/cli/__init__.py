"""The ``prefect-giga`` command line: one small module per command group.

Example:
    ```bash
    prefect-giga quote --tier '$1.00'
    prefect-giga start "Summarise data.csv" --file data.csv --wait --download outputs/
    prefect-giga journal unresolved --json
    ```
"""

from .app import app, main

__all__ = ["app", "main"]
