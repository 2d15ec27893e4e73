"""Helpers shared by test suites: private MariaDB instances, moto S3 servers, seed data."""
