"""The database secret: a JSON document in AWS Secrets Manager.

    {"host": "db.example.com", "port": 3306, "username": "etl", "password": "...",
     "database": "shop", "tls": true}

``dbname`` is accepted for ``database`` (RDS-managed secrets), ``ssl`` for ``tls``, and
``tls_ca`` names a CA bundle file inside the container.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from etl.errors import UsageError

REQUIRED = ("host", "port", "username", "password", "database")


@dataclass(frozen=True)
class DbSecret:
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    database: str
    tls: bool = False
    tls_ca: str | None = None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "required", "require")
    return bool(value)


def parse_secret(text: str | None, secret_id: str = "") -> DbSecret:
    """Parse and validate the secret; raise ``UsageError`` (exit 2) without echoing it."""
    where = f"secret {secret_id!r}" if secret_id else "the secret"
    if text is None:
        raise UsageError(f"{where} has no SecretString (binary secrets are not supported)")
    try:
        doc = json.loads(text)
    except ValueError:
        raise UsageError(f"{where} is not valid JSON") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{where} must be a JSON object")
    if "database" not in doc and "dbname" in doc:
        doc["database"] = doc["dbname"]
    missing = [k for k in REQUIRED if doc.get(k) in (None, "")]
    if missing:
        raise UsageError(
            f"{where} is missing key(s): {', '.join(missing)} "
            f"(needs {', '.join(REQUIRED)}; optional tls, tls_ca)"
        )
    try:
        port = int(doc["port"])
    except (TypeError, ValueError):
        raise UsageError(f"{where}: port must be an integer") from None
    if not 0 < port < 65536:
        raise UsageError(f"{where}: port {port} is out of range")
    for key in ("host", "username", "password", "database"):
        if not isinstance(doc[key], str):
            raise UsageError(f"{where}: {key} must be a string")
    tls = _truthy(doc.get("tls", doc.get("ssl", False)))
    tls_ca = doc.get("tls_ca") or doc.get("ssl_ca")
    return DbSecret(
        host=doc["host"],
        port=port,
        username=doc["username"],
        password=doc["password"],
        database=doc["database"],
        tls=tls,
        tls_ca=str(tls_ca) if tls_ca else None,
    )


def fetch_secret(client: Any, secret_id: str) -> DbSecret:
    """Read ``secret_id`` with a boto3 Secrets Manager client."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = client.get_secret_value(SecretId=secret_id)
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "ClientError")
        raise UsageError(f"cannot read secret {secret_id!r}: {code}") from None
    except BotoCoreError as e:
        raise UsageError(f"cannot read secret {secret_id!r}: {type(e).__name__}: {e}") from None
    return parse_secret(response.get("SecretString"), secret_id)
