"""JupyterLab checkpoints for ``make lab``: one folder outside the hubs, mirroring each
notebook's path, always writable.

jupyter_server's ``FileCheckpoints`` with an absolute ``checkpoint_dir`` keeps every
checkpoint in one flat folder named by the file's name: ``reports/<stamp>/gs2_ideal/
scenario_run.ipynb`` and ``lab/scenario_run.ipynb`` shared one checkpoint, so "Revert
Notebook to Checkpoint" in the working copy could bring back a hub's executed notebook
(issue 30).  The default (``.ipynb_checkpoints`` beside each notebook) would write into
hubs, which are never written into.  Here a checkpoint lives at
``<checkpoint_dir>/<the notebook's folder relative to the server root>/<name>-<id>.ipynb``,
and copies never inherit a sealed hub file's read-only mode.

Used by the Makefile: ``--ContentsManager.checkpoints_class=ptycho_helpers.hub.lab_checkpoints.MirroredCheckpoints``.
"""

from __future__ import annotations

import os
import stat

from jupyter_core.utils import ensure_dir_exists
from jupyter_server.services.contents.filecheckpoints import AsyncFileCheckpoints


def _writable(path: str) -> None:
    mode = os.stat(path).st_mode
    os.chmod(path, mode | stat.S_IWUSR)


class MirroredCheckpoints(AsyncFileCheckpoints):
    """Checkpoints under ``checkpoint_dir`` (absolute), mirroring the notebook's folder."""

    def checkpoint_path(self, checkpoint_id, path):
        path = path.strip("/")
        parent, name = ("/" + path).rsplit("/", 1)
        basename, ext = os.path.splitext(name)
        root = (
            self.checkpoint_dir
            if os.path.isabs(self.checkpoint_dir)
            else os.path.join(self.root_dir, self.checkpoint_dir)
        )
        cp_dir = os.path.join(root, *[p for p in parent.strip("/").split("/") if p])
        with self.perm_to_403():
            ensure_dir_exists(cp_dir)
        return os.path.join(cp_dir, f"{basename}-{checkpoint_id}{ext}")

    async def create_checkpoint(self, contents_mgr, path):
        model = await super().create_checkpoint(contents_mgr, path)
        _writable(self.checkpoint_path(model["id"], path))
        return model

    async def restore_checkpoint(self, contents_mgr, checkpoint_id, path):
        await super().restore_checkpoint(contents_mgr, checkpoint_id, path)
        _writable(contents_mgr._get_os_path(path))
