"""The journal's guard tables: start leases and the fingerprints of nonce secrets.

`Journal` inherits these queries; `lease.start_lease` drives the leases, and the paid start
checks the nonce secret before it signs a first payment for a key.
"""

from __future__ import annotations

from ..core.exceptions import GigaConfigError
from .journal_store import JournalStore

__all__ = ["JournalGuards"]


class JournalGuards(JournalStore):
    """Leases on starts and nonce-secret fingerprints, kept in the journal.

    Example:
        >>> import tempfile, pathlib
        >>> guards = JournalGuards(pathlib.Path(tempfile.mkdtemp()) / "j.sqlite3")
        >>> guards.try_lease("0xabc", "job-1", "me", 60.0) is None
        True
        >>> guards.try_lease("0xabc", "job-1", "you", 60.0)[0]
        'me'
    """

    def check_nonce_secret(self, payer: str, fingerprint: str) -> None:
        """Record the fingerprint of the nonce secret ``payer`` derives nonces from, or check it.

        Raises:
            GigaConfigError: Another secret was recorded for ``payer``: nonces derived now
                would differ from those already signed.
        """
        with self._write() as db:
            row = db.execute(
                "SELECT fingerprint FROM nonce_secrets WHERE payer = ?", (payer.lower(),)
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO nonce_secrets (payer, fingerprint, recorded_at) VALUES (?, ?, ?)",
                    (payer.lower(), fingerprint, self._now()),
                )
            elif str(row[0]) != fingerprint:
                raise GigaConfigError(
                    f"Refusing to pay: wallet {payer} derived its payment nonces from another "
                    f"nonce secret on this machine (fingerprint {str(row[0])[:12]}..., this one "
                    f"{fingerprint[:12]}...). Every worker paying from one wallet must hold the "
                    "same secret; nothing was signed."
                )

    def try_lease(
        self, payer: str, key: str, owner: str, seconds: float, *, replacing: str | None = None
    ) -> tuple[str, float] | None:
        """Take (or renew) the lease on ``payer``'s start ``key`` for ``seconds``.

        Args:
            payer: The paying address.
            key: The idempotency key.
            owner: Who takes it (unique per holder).
            seconds: How long it lasts unless renewed.
            replacing: Take it over from this holder even before it expires (a holder known
                to be dead).

        Returns:
            ``None`` when ``owner`` now holds the lease; else the other holder and when its
            lease ends (unless renewed).
        """
        now = self._now()
        with self._write() as db:
            row = db.execute(
                "SELECT owner, expires_at FROM leases WHERE payer = ? AND key = ?",
                (payer.lower(), key),
            ).fetchone()
            if row is not None and str(row[0]) not in (owner, replacing) and float(row[1]) > now:
                return str(row[0]), float(row[1])
            db.execute(
                "INSERT INTO leases (payer, key, owner, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (payer, key) DO UPDATE SET owner = excluded.owner, "
                "expires_at = excluded.expires_at",
                (payer.lower(), key, owner, now + seconds),
            )
        return None

    def release_lease(self, payer: str, key: str, owner: str) -> None:
        """Give up ``owner``'s lease on ``payer``'s start ``key`` (no-op when not held)."""
        with self._write() as db:
            db.execute(
                "DELETE FROM leases WHERE payer = ? AND key = ? AND owner = ?",
                (payer.lower(), key, owner),
            )
