"""PostgreSQL-only hub tests: the server fixture comes from tests/hub/conftest.py."""
