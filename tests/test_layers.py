"""The SDK stands alone: importing it loads no server stack."""

from __future__ import annotations

import subprocess
import sys


def test_client_imports_without_the_server_stack() -> None:
    code = (
        "import sys, jobline.client, jobline;"
        "loaded = [m for m in ('sqlalchemy', 'fastapi', 'starlette', 'alembic', 'pydantic')"
        " if m in sys.modules]; print(','.join(loaded))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
