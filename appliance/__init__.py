"""The SMS-banking appliance: answers a bank's customers by SMS through a GSM modem."""

__version__ = "0.1.0"
