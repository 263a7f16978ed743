"""Export the JSON Schema of run_metadata.json to schemas/run_metadata.schema.json.

Run: .venv/bin/python scripts/export_schema.py   (a test fails when the committed copy is stale)
"""

from __future__ import annotations

from ptycho_helpers.metadata import SCHEMA_PATH, schema_text

if __name__ == "__main__":
    SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_PATH.write_text(schema_text())
    print(f"wrote {SCHEMA_PATH}")
