"""Moved to `prefect_giga.payments.paid_start` (old imports and saved results use this path)."""

from .payments.paid_start import (
    PAYMENT_REQUIRED as PAYMENT_REQUIRED,
)
from .payments.paid_start import (
    PAYMENT_RESPONSE as PAYMENT_RESPONSE,
)
from .payments.paid_start import (
    PAYMENT_SIGNATURE as PAYMENT_SIGNATURE,
)
from .payments.paid_start import (
    PaidStart as PaidStart,
)
from .payments.paid_start import (
    ReconcilePolicy as ReconcilePolicy,
)
from .payments.paid_start import (
    paid_lane as paid_lane,
)
