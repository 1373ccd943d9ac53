from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from downloader.emulator import (
    AlteryxJob,
    AlteryxOutput,
    DownloadKind,
    Emulator,
    FileEntry,
    Malformed,
    PixxelDownload,
    PixxelJob,
    ScaleJob,
    Scenario,
    Settings,
    demo_scenario_text,
    expected_files,
    load_scenario,
    parse_scenario,
)
from downloader.emulator._content import SeededContent
from downloader.emulator._items import Catalogue
from downloader.errors import ConfigError

FULL = """
[emulator]
seed = 7
pixxel_api_key = "k"
scale_token = "t"
token_lifetime = 60
url_lifetime = 30
page_size = 3
job_lists = false

[[pixxel.job]]
workflow_id = "wf-1"
job_id = "job-1"
polls_until_done = 2
seconds_until_ready = 5
files = [{ name = "a.tif", size = 100 }]
throttle = 2
retry_after = "3"
malformed = "wrong_type"
malformed_times = 1
url_lifetime = 9
faults = { drop_after_bytes = 10, error_statuses = [503] }

[[pixxel.task]]
workflow_id = "wf-1"
job_id = "job-1"
task_id = "t-1"
fail = "band 3 calibration failed"

[[pixxel.order_item]]
id = "oi-1"
files = [{ name = "o.tif", size = 10 }]

[[scale.job]]
id = 15096
null_url = true
files = [{ name = "x.kml", size = 5, media_type = "text/xml", output = "kml" }]

[[alteryx.job]]
id = "66eb"
disposition = "Success"
outputs = [{ id = "o1", file_name = "r.csv", size = 10, formats = ["Raw", "Csv"] }]
messages = [{ status = 1, text = "ok", tool_id = 4 }]
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_scenario(text, source="s.toml")
    return [f"{p.key}: {p.message}" for p in caught.value.problems]


def test_every_documented_key_is_read_into_the_dataclasses() -> None:
    scenario = parse_scenario(FULL)
    assert scenario.settings == Settings(
        seed=7,
        pixxel_api_key="k",
        scale_token="t",
        token_lifetime=60.0,
        url_lifetime=30.0,
        page_size=3,
        job_lists=False,
    )
    job = scenario.pixxel_jobs[0]
    assert job.key == "pixxel:job:wf-1/job-1"
    assert job.done.polls == 2
    assert job.ready.seconds == 5.0
    assert job.knobs.throttle == 2
    assert job.knobs.retry_after == "3"
    assert job.knobs.malformed is Malformed.WRONG_TYPE
    assert job.knobs.malformed_times == 1
    assert job.knobs.url_lifetime == 9.0
    assert job.knobs.faults == {"drop_after_bytes": 10, "error_statuses": [503]}
    assert scenario.pixxel_tasks[0].fail == "band 3 calibration failed"
    assert scenario.pixxel_downloads[0].kind is DownloadKind.ORDER_ITEM
    assert scenario.scale_jobs[0].null_url is True
    assert scenario.scale_jobs[0].files[0].output == "kml"
    assert scenario.alteryx_jobs[0].outputs[0].formats == ("Raw", "Csv")
    assert [i.key for i in scenario.items()] == [
        "pixxel:job:wf-1/job-1",
        "pixxel:task:wf-1/job-1/t-1",
        "pixxel:order_item:oi-1",
        "scale:job:15096",
        "alteryx:job:66eb",
    ]


def test_every_problem_is_reported_with_its_key() -> None:
    found = problems_of(
        """
        [emulator]
        seed = "one"
        colour = "blue"
        job_lists = "no"
        [[pixxel.job]]
        job_id = "j"
        files = [{ name = "a", size = -1 }]
        malformed = "garbled"
        [[scale.job]]
        id = true
        """
    )
    assert "emulator.seed: must be an integer" in found
    assert "emulator.colour: unknown key" in found
    assert "emulator.job_lists: must be true or false" in found
    assert "pixxel.job[0].workflow_id: is required" in found
    assert "pixxel.job[0].files[0].size: must not be negative" in found
    assert any(p.startswith("pixxel.job[0].malformed: must be one of") for p in found)
    assert "scale.job[0].id: must be an integer" in found


def test_job_lists_are_served_unless_the_scenario_turns_them_off() -> None:
    assert parse_scenario("").settings.job_lists is True
    assert parse_scenario("[emulator]\njob_lists = false\n").settings.job_lists is False


def test_job_lists_are_spoiled_when_the_scenario_says_how() -> None:
    assert parse_scenario("").settings.job_list_malformed is None
    text = '[emulator]\njob_list_malformed = "huge_number"\n'
    assert parse_scenario(text).settings.job_list_malformed is Malformed.HUGE_NUMBER
    found = problems_of('[emulator]\njob_list_malformed = "garbled"\n')
    assert any(p.startswith("emulator.job_list_malformed: must be one of") for p in found)


def test_invalid_toml_names_the_file() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_scenario("[emulator\n", source="broken.toml")
    assert caught.value.problems[0].file == "broken.toml"
    assert "not valid TOML" in str(caught.value)


def test_duplicates_unsafe_ids_unknown_faults_and_repeated_names_are_refused() -> None:
    found = problems_of(
        """
        [[pixxel.catalog]]
        id = "c/1"
        [[scale.job]]
        id = 1
        faults = { explode = 1, drop_after_bytes = "10", stall_seconds = 1, error_statuses = [503] }
        files = [{ name = "a", size = 1 }, { name = "a", size = 2 }]
        [[scale.job]]
        id = 1
        [[alteryx.job]]
        id = "a"
        outputs = [{ id = "o", file_name = "f", size = 1, formats = [] }]
        """
    )
    text = "\n".join(found)
    assert "pixxel:catalog:c/1: id 'c/1' must match" in text
    assert "unknown fault explode" in text
    assert "fault drop_after_bytes has the wrong type" in text
    assert "stall_seconds" not in text
    assert "error_statuses" not in text
    assert "must be unique" in text
    assert "the same item appears twice" in text
    assert "alteryx:job:a: every output needs at least one format" in text


def test_a_scenario_built_in_code_is_checked_too() -> None:
    with pytest.raises(ConfigError, match="page_size"):
        Emulator(Scenario(settings=Settings(page_size=0)))


def test_load_scenario_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(FULL)
    assert load_scenario(path) == parse_scenario(FULL)


def test_the_demo_scenario_parses_and_covers_every_item_kind() -> None:
    scenario = parse_scenario(demo_scenario_text())
    assert scenario.pixxel_jobs
    assert scenario.pixxel_tasks
    kinds = {d.kind for d in scenario.pixxel_downloads}
    assert kinds == {DownloadKind.CATALOG, DownloadKind.ORDER_ITEM}
    assert scenario.scale_jobs
    assert scenario.alteryx_jobs
    total = sum(f.size for i in scenario.items() if not isinstance(i, AlteryxJob) for f in i.files)
    assert 100 * 2**20 < total < 600 * 2**20


def test_contents_are_reproducible_and_distinct_per_file() -> None:
    scenario = Scenario(
        scale_jobs=(ScaleJob(1, files=(FileEntry("a", 64), FileEntry("b", 64))),),
    )
    first = expected_files(scenario)["scale:job:1"]
    again = expected_files(scenario)["scale:job:1"]
    assert first == again
    assert first[0].sha256 != first[1].sha256
    reseeded = Scenario(settings=Settings(seed=2), scale_jobs=scenario.scale_jobs)
    assert expected_files(reseeded)["scale:job:1"][0].sha256 != first[0].sha256


def test_expected_pixxel_package_lists_the_zip_and_its_members() -> None:
    files = (FileEntry("scene.tif", 3000), FileEntry("meta.json", 20))
    scenario = Scenario(pixxel_jobs=(PixxelJob("wf", "job", files=files),))
    (package,) = expected_files(scenario)["pixxel:job:wf/job"]
    assert package.name == "job.zip"
    zipped = Catalogue(scenario).package(scenario.pixxel_jobs[0])
    data = b"".join(zipped.iter_range(0, package.size))
    assert hashlib.sha256(data).hexdigest() == package.sha256
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for member in package.members:
            body = zf.read(member.name)
            assert (len(body), hashlib.sha256(body).hexdigest()) == (member.size, member.sha256)


def test_expected_alteryx_files_name_each_format() -> None:
    output = AlteryxOutput("o1", "stats.csv", 10, ("Raw", "Xlsx"))
    scenario = Scenario(alteryx_jobs=(AlteryxJob("j", outputs=(output,)),))
    expected = expected_files(scenario)["alteryx:job:j"]
    assert [(f.name, f.format) for f in expected] == [("stats.csv", "Raw"), ("stats.xlsx", "Xlsx")]


def test_items_that_cannot_succeed_expect_nothing() -> None:
    entry = (FileEntry("a", 1),)
    scenario = Scenario(
        pixxel_downloads=(PixxelDownload(DownloadKind.CATALOG, "c", entry, fail="gone"),),
        scale_jobs=(ScaleJob(1, entry, cancel=True), ScaleJob(2, entry, null_url=True)),
        alteryx_jobs=(AlteryxJob("a", (AlteryxOutput("o", "x", 1),), disposition="Error"),),
    )
    assert all(files == [] for files in expected_files(scenario).values())


def test_scale_file_content_is_seeded_content_of_the_declared_size() -> None:
    scenario = Scenario(scale_jobs=(ScaleJob(3, files=(FileEntry("f", 1234),)),))
    job = scenario.scale_jobs[0]
    content = Catalogue(scenario).file_content(job, job.files[0])
    assert isinstance(content, SeededContent)
    assert content.size == 1234


def test_a_scale_file_given_members_is_a_zip_of_them_with_its_own_size() -> None:
    scenario = parse_scenario(
        """
        [[scale.job]]
        id = 8
        files = [
          { name = "plain.tif", size = 100 },
          { name = "bundle.zip", members = [{ name = "a.tif", size = 3000 },
                                            { name = "m/b.json", size = 20 }] },
        ]
        """
    )
    job = scenario.scale_jobs[0]
    _, bundle = job.files
    assert [m.name for m in bundle.members] == ["a.tif", "m/b.json"]
    content = Catalogue(scenario).file_content(job, bundle)
    assert content.size == bundle.size  # what the API reports is what is served
    data = b"".join(content.iter_range(0, content.size))
    expected = {f.name: f for f in expected_files(scenario)["scale:job:8"]}
    assert set(expected) == {"plain.tif", "bundle.zip"}
    assert expected["bundle.zip"].sha256 == hashlib.sha256(data).hexdigest()
    assert expected["plain.tif"].members == ()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        for member in expected["bundle.zip"].members:
            body = zf.read(member.name)
            assert (len(body), hashlib.sha256(body).hexdigest()) == (member.size, member.sha256)


def test_zip_members_are_refused_when_empty_repeated_or_given_with_a_size() -> None:
    found = problems_of(
        """
        [[scale.job]]
        id = 9
        files = [
          { name = "a.zip", members = [] },
          { name = "b.zip", size = 10, members = [{ name = "x", size = 1 }] },
          { name = "c.zip", members = [{ name = "x", size = 1 }, { name = "x", size = 2 }] },
        ]
        """
    )
    text = "\n".join(found)
    assert "files[0].members: must list at least one file" in text
    assert "files[1].size: a ZIP of members has the size of its members" in text
    assert "the members of c.zip need unique, non-empty names" in text
    wrong_size = FileEntry("d.zip", 5, members=(FileEntry("x", 1),))
    with pytest.raises(ConfigError, match=r"d\.zip is a ZIP of"):
        Emulator(Scenario(scale_jobs=(ScaleJob(10, (wrong_size,)),)))


def test_the_file_host_answer_knobs_take_only_their_words() -> None:
    found = problems_of(
        """
        [[scale.job]]
        id = 1
        faults = { expiry_answer = "ftp", error_body = "pdf", gzip = true }
        [[scale.job]]
        id = 2
        faults = { expiry_answer = "gcs", error_body = "json", error_body_times = -1 }
        """
    )
    text = "\n".join(found)
    assert "scale:job:1: fault expiry_answer must be one of s3, gcs, azure" in text
    assert "scale:job:1: fault error_body must be one of html, xml, json" in text
    assert "gzip" not in text
    assert "scale:job:2" not in text
