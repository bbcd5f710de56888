"""CLI texts of the configuration loader."""

TEXTS: dict[str, tuple[str, str]] = {
    "config.error": (
        "appliance: gabim në konfigurim: {line}",
        "appliance: config error: {line}",
    ),
}
