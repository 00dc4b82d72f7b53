"""Save the wallet as a GigaCredentials block named "my-giga-wallet"."""

from decimal import Decimal

from prefect_giga import GigaCredentials

# GIGA_PRIVATE_KEY (and GIGA_BASE_URL, for the emulator) come from the environment.
credentials = GigaCredentials.from_env(
    max_price_per_run=Decimal("1.00"),  # refuse any quote above $1.00 per run
    max_spend_per_day=Decimal("25.00"),  # and more than $25 in any 24 hours
)
credentials.save("my-giga-wallet", overwrite=True)
print("saved the block for wallet", credentials.address)
