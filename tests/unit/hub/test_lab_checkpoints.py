"""make lab's checkpoints (issue 30): two notebooks of one name never share a checkpoint,
none is written into a hub, and a checkpoint of a sealed (read-only) file is writable."""

from __future__ import annotations

import asyncio
import os
import stat

import nbformat
import pytest

pytest.importorskip("jupyter_server")
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager  # noqa: E402

from ptycho_helpers.hub.lab_checkpoints import MirroredCheckpoints  # noqa: E402


def test_same_name_notebooks_keep_their_own_checkpoints(tmp_path):
    root, cps = tmp_path / "repo", tmp_path / "repo" / ".lab-checkpoints"
    hub_nb = root / "reports" / "2026-01-01T000000Z" / "gs2_ideal" / "scenario_run.ipynb"
    work_nb = root / "lab" / "scenario_run.ipynb"
    for path, text in ((hub_nb, "executed in the hub"), (work_nb, "my working copy")):
        path.parent.mkdir(parents=True)
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)])
        nbformat.write(nb, path)
    os.chmod(hub_nb, 0o444)  # a sealed hub file
    cm = AsyncLargeFileManager(root_dir=str(root), checkpoints_class=MirroredCheckpoints)
    cm.checkpoints.checkpoint_dir = str(cps)

    async def scenario():
        cp = await cm.create_checkpoint("lab/scenario_run.ipynb")
        # later the user opens the hub's notebook just to read it (JupyterLab checkpoints it)
        await cm.create_checkpoint("reports/2026-01-01T000000Z/gs2_ideal/scenario_run.ipynb")
        model = await cm.get("lab/scenario_run.ipynb")
        model["content"].cells[0].source = "edited"
        await cm.save(model, "lab/scenario_run.ipynb")
        await cm.restore_checkpoint(cp["id"], "lab/scenario_run.ipynb")

    asyncio.run(scenario())
    assert nbformat.read(work_nb, as_version=4).cells[0].source == "my working copy"  # not the hub's
    hub_cp = cps / "reports" / "2026-01-01T000000Z" / "gs2_ideal" / "scenario_run-checkpoint.ipynb"
    assert hub_cp.is_file() and (cps / "lab" / "scenario_run-checkpoint.ipynb").is_file()
    assert os.stat(hub_cp).st_mode & stat.S_IWUSR  # never inherits the sealed mode
    assert not list((root / "reports").rglob(".ipynb_checkpoints"))  # nothing written into the hub
