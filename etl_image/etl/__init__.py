"""Extract the result of one read-only SQL query from MySQL/MariaDB into typed Parquet (or
gzip CSV) on S3.

Run it as ``python -m etl --help``; see ``etl_image/README.md``.
"""

__version__ = "1.2.1"
