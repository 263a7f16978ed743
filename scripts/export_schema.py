"""Export the JSON Schemas of the hub's JSON files to ``schemas/``: run_metadata.json
(``hub.metadata``) and the result records of ``hub.results`` (comparison_metrics, stats,
reassembly telemetry).

Run: .venv/bin/python scripts/export_schema.py   (a test fails when a committed copy is stale)
"""

from __future__ import annotations

from ptycho_helpers.hub import metadata, results

if __name__ == "__main__":
    metadata.SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
    metadata.SCHEMA_PATH.write_text(metadata.schema_text())
    print(f"wrote {metadata.SCHEMA_PATH}")
    for name, model in results.SCHEMAS.items():
        path = results.SCHEMA_DIR / f"{name}.schema.json"
        path.write_text(results.schema_text(model))
        print(f"wrote {path}")
