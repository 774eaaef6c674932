from tests.conftest import database_backends

# In production these routes may be served through a transaction-mode pooler (Neon's
# `-pooler` endpoints), so they are also tested through one.
database_url = database_backends("sqlite", "postgresql", "pgbouncer")
