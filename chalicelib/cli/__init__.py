"""Command-line tools: `python -m chalicelib.cli token ...` and `python -m chalicelib.cli audit verify FILE`."""
