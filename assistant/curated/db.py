"""The database engine factory, shared by curated answers and feedback (see assistant/database.py)."""

from ..database import make_engine, write_transaction

__all__ = ["make_engine", "write_transaction"]
