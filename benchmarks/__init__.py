"""Performance benchmarks of prefect-giga against the local emulator.

Run them with ``python -m benchmarks`` (``--quick`` for a smoke run); see ``README.md``.
"""
