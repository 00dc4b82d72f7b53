"""Paying for a run: the quote policy, x402 signing, the exactly-once paid start, the
journal and budgets."""

# `prefect_giga.payments` was one module before the package grew rooms; its names stay here.
from .signing import (
    MAX_ACCEPTED_TIMEOUT_SECONDS as MAX_ACCEPTED_TIMEOUT_SECONDS,
)
from .signing import (
    PAYMENT_IDENTIFIER as PAYMENT_IDENTIFIER,
)
from .signing import (
    PaymentPolicy as PaymentPolicy,
)
from .signing import (
    SignedPayment as SignedPayment,
)
from .signing import (
    decode_b64_json as decode_b64_json,
)
from .signing import (
    decode_receipt as decode_receipt,
)
from .signing import (
    payment_identifier as payment_identifier,
)
from .signing import (
    sign_payment as sign_payment,
)
