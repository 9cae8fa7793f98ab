"""The SQL of the SQLite store, by subject.

Every function taking a connection runs on the writer thread inside its open transaction (or,
for reads, on a read connection) and keeps all its effects there.
"""
