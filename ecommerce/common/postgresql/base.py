"""Django's PostgreSQL backend with a health check that needs no round trip when it can.

With ``CONN_HEALTH_CHECKS`` on, Django checks a kept connection before its first query in
each request or task by sending ``SELECT 1``: one round trip per request or task, about
seven for each shopper of ``bench/checkout.py`` (docs/BENCHMARKS.md). A connection the
server has closed (a restart, ``pg_terminate_backend``, an idle timeout) has a readable
socket: the server's last message, then end of file. So a connection that is open, idle
outside a transaction and has nothing waiting to be read is taken as healthy without asking;
anything else (bytes waiting, a transaction left open, psycopg marking it broken) gets
Django's own ``SELECT 1`` check, which closes it if it fails, and the query then opens a new
one.

What this cannot see, ``SELECT 1`` would not have either: a peer that vanished without
closing the socket makes both wait for TCP to give up.
"""

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    # Set by Django's base wrapper; its type stubs leave them out.
    health_check_enabled: bool
    health_check_done: bool

    def close_if_health_check_failed(self) -> None:
        if (
            self.health_check_enabled
            and not self.health_check_done
            and self.pool is None
            and self._looks_healthy()
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def _looks_healthy(self) -> bool:
        """True if the connection is open and idle and the server has sent nothing since."""
        conn = self.connection
        if conn is None or conn.closed or conn.broken:
            return False
        if conn.pgconn.status != pq.ConnStatus.OK:
            return False
        if conn.info.transaction_status != pq.TransactionStatus.IDLE:
            return False
        try:
            readable, _, _ = select.select([conn.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable
