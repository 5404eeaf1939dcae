"""Code of the CLI subcommands that are more than a few lines (cli.py wires them in)."""
