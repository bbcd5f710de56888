"""Texts of the root command line (appliance/cli.py)."""

TEXTS: dict[str, tuple[str, str]] = {
    "cli.usage_error": (
        "{where}: {message} (shih '{where} --help')",
        "{where}: {message} (see '{where} --help')",
    ),
}
