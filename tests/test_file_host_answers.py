"""What file hosts really answer, end to end through `once` against the emulator: a
refused platform URL renewed, an error page that is not a package, a gzip-coded body."""

from __future__ import annotations

import zipfile
from pathlib import Path

from downloader.store import ItemState, open_store
from tests.support.once import once_against


async def _records(state_url: str) -> dict[str, tuple[ItemState, str | None, str | None]]:
    async with open_store(state_url) as store:
        return {r.key: (r.state, r.error, r.archive_path) for r in await store.list_items()}


SCALE_REFUSED = """
[emulator]
seed = 5

[[scale.job]]
id = 4101
url_lifetime = 600
files = [{ name = "scene.tif", size = 300000 }]
faults = { error_statuses = [403] }
"""


async def test_a_scale_file_url_refused_is_renewed_from_the_platforms_file_list(
    tmp_path: Path,
) -> None:
    async with once_against(tmp_path, SCALE_REFUSED) as (running, settings):
        files = [r for r in running.emulator.files.log if r.path.endswith("scene.tif")]
        lists = [r for r in running.emulator.log if r.path.startswith("/scale/v6/files")]
    [(state, error, path)] = (await _records(settings.state.url)).values()
    assert (state, error) == (ItemState.ARCHIVED, None)
    assert path is not None
    assert (Path(path) / "data" / "scene.tif").stat().st_size == 300000
    assert [r.status for r in files] == [403, 206]
    assert len(lists) == 2  # the package's list, and the one that renewed the URL


PIXXEL_PAGE = """
[emulator]
seed = 6
pixxel_api_key = "k"

[[pixxel.job]]
workflow_id = "wf"
job_id = "job-1"
files = [{ name = "scene.tif", size = 200000 }]
faults = { error_body = "html" }
"""


async def test_an_access_denied_page_served_for_a_pixxel_package_is_never_archived(
    tmp_path: Path,
) -> None:
    async with once_against(tmp_path, PIXXEL_PAGE) as (running, settings):
        package = [r for r in running.emulator.files.log if r.path.endswith(".zip")]
    [(state, _, path)] = (await _records(settings.state.url)).values()
    assert state is ItemState.ARCHIVED
    assert path is not None
    [archived] = (Path(path) / "data").iterdir()
    assert zipfile.is_zipfile(archived)  # the package, not the page served first
    assert zipfile.ZipFile(archived).namelist() == ["scene.tif"]
    assert [r.status for r in package] == [200, 206]


GZIPPED = """
[emulator]
seed = 7

[[alteryx.job]]
id = "ayx-coded"
outputs = [{ id = "o1", file_name = "result.csv", size = 30000 }]
faults = { gzip = true }

[[scale.job]]
id = 4102
files = [{ name = "scene.tif", size = 30000 }]
faults = { gzip = true }
"""


async def test_a_gzip_coded_body_is_archived_as_sent_and_said_or_failed_when_its_size_is_known(
    tmp_path: Path,
) -> None:
    async with once_against(tmp_path, GZIPPED) as (_, settings):
        records = await _records(settings.state.url)
    state, _, path = records["alteryx:job:ayx-coded"]
    assert state is ItemState.ARCHIVED  # Alteryx tells no size: nothing shows it is wrong
    assert path is not None
    info = (Path(path) / "bag-info.txt").read_text()
    assert "Payload-Content-Coding: data/result.csv: gzip" in info
    state, error, _ = records["scale:job:4102"]
    assert state is ItemState.FAILED  # Scale told the file's size: the coded bytes are not it
    assert "EncodedBody" in (error or "")
    assert "Content-Encoding: gzip" in (error or "")
