from ptycho_helpers.hub import metadata


def test_committed_schema_is_current():
    assert metadata.SCHEMA_PATH.read_text() == metadata.schema_text(), (
        "schemas/run_metadata.schema.json is stale: run scripts/export_schema.py"
    )


def test_versions_and_host():
    v = metadata.package_versions()
    assert v["python"] and "numpy" in v
    assert metadata.host_info()["cpus"] >= 1
