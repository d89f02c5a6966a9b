"""Storage: SQLAlchemy 2 + GeoAlchemy2 tables and repositories; rows <-> domain values."""
