"""The core the rest stands on: the exchange with the server, wallets and signing,
money, networks, models and exceptions."""
