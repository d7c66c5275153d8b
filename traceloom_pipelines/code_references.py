"""Every asset links to the code that defines it, in the Dagster UI.

Python assets get the file and line of their function (``dg.with_source_code_references``); dbt
assets the SQL file of their model (``enable_code_references`` in ``traceloom_pipelines.dbt``).
With ``TRACELOOM_GIT_URL`` (e.g. ``https://github.com/<org>/traceloom``) and optionally
``TRACELOOM_GIT_BRANCH`` (default ``main``) set, the links open the file in the repository's web
view instead of a local path.
"""

from __future__ import annotations

import os
import warnings

import dagster as dg

from traceloom_pipelines.resources import PROJECT_ROOT

GIT_URL_ENV = "TRACELOOM_GIT_URL"
GIT_BRANCH_ENV = "TRACELOOM_GIT_BRANCH"


def with_code_references(assets: list) -> list:
    """``assets`` with code references: local file paths, or repository links when
    ``$TRACELOOM_GIT_URL`` is set (paths relative to the project root)."""
    with warnings.catch_warnings():
        # Code references are marked beta in Dagster: one warning per asset otherwise.
        warnings.simplefilter("ignore", dg.BetaWarning)
        linked = dg.with_source_code_references(assets)
        git_url = os.environ.get(GIT_URL_ENV, "").strip()
        if not git_url:
            return list(linked)
        return list(
            dg.link_code_references_to_git(
                assets_defs=linked,
                git_url=git_url,
                git_branch=os.environ.get(GIT_BRANCH_ENV, "").strip() or "main",
                file_path_mapping=dg.AnchorBasedFilePathMapping(
                    local_file_anchor=PROJECT_ROOT, file_anchor_path_in_repository=""
                ),
            )
        )
