"""What file hosts really answer, end to end through `once` against the emulator: a
refused platform URL renewed, an error page that is not a package, a gzip-coded body."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from downloader.store import ItemState, open_store
from tests.support.once import once_against


async def _records(state_url: str) -> dict[str, tuple[ItemState, str | None, str | None]]:
    async with open_store(state_url) as store:
        return {r.key: (r.state, r.error, r.archive_path) for r in await store.list_items()}


SCALE_REFUSED = """
[emulator]
seed = 5
scale_api_version = "{version}"

[[scale.job]]
id = 4101
url_lifetime = 600
files = [{{ name = "scene.tif", size = 300000 }}]
faults = {{ error_statuses = [403] }}
"""


@pytest.mark.parametrize(
    ("version", "listing"), [("v6", "/scale/v6/files"), ("legacy", "/scale-legacy/jobs/4101")]
)
async def test_a_scale_file_url_refused_is_renewed_from_the_platforms_file_list(
    tmp_path: Path, version: str, listing: str
) -> None:
    scenario = SCALE_REFUSED.format(version=version)
    async with once_against(tmp_path, scenario) as (running, settings):
        files = [r for r in running.emulator.files.log if r.path.endswith("scene.tif")]
        lists = [r for r in running.emulator.log if r.path.startswith(listing)]
    [(state, error, path)] = (await _records(settings.state.url)).values()
    assert (state, error) == (ItemState.ARCHIVED, None)
    assert path is not None
    assert (Path(path) / "data" / "scene.tif").stat().st_size == 300000
    assert [r.status for r in files] == [403, 206]
    # the file list the package came from, and the one that renewed the URL
    assert [r.status for r in lists][-2:] == [200, 200]
    renewals = [r for r in lists if r.time >= files[0].started]
    assert len(renewals) == 1


ERROR_PAGE_ONCE = """
[emulator]
seed = 6
pixxel_api_key = "k"

[[pixxel.job]]
workflow_id = "wf"
job_id = "job-1"
files = [{ name = "scene.tif", size = 200000 }]
faults = { error_body = "html" }

[[scale.job]]
id = 4103
files = [{ name = "scene.tif", size = 30000, media_type = "image/tiff" }]
faults = { error_body = "json" }

[[alteryx.job]]
id = "ayx-page"
outputs = [{ id = "o1", file_name = "result.csv", size = 30000 }]
faults = { error_body = "xml" }
"""


async def test_an_access_denied_page_served_for_a_file_is_never_archived_for_any_platform(
    tmp_path: Path,
) -> None:
    async with once_against(tmp_path, ERROR_PAGE_ONCE) as (running, settings):
        served = [r.status for r in running.emulator.files.log]
        expected = running.emulator.expected()
    records = await _records(settings.state.url)
    assert served.count(200) >= 3  # each platform's file answered with a page once
    for key, (state, error, path) in records.items():
        assert (state, error) == (ItemState.ARCHIVED, None), key
        assert path is not None
        data = Path(path) / "data"
        if key.startswith("pixxel"):
            [archived] = data.iterdir()
            assert zipfile.is_zipfile(archived)  # the package, not the page served first
            assert zipfile.ZipFile(archived).namelist() == ["scene.tif"]
        else:
            [file] = expected[key]
            assert (data / file.name).stat().st_size == file.size


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
