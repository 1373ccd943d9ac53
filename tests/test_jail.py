"""The jail's file operations: a link below the root is refused at every part of a path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from downloader.errors import PlantedLink
from downloader.jail import Jail


@pytest.fixture
def jail(tmp_path: Path) -> Jail:
    (tmp_path / "root" / "a" / "b").mkdir(parents=True)
    (tmp_path / "away").mkdir()
    return Jail(tmp_path / "root")


def test_a_path_outside_the_root_or_climbing_out_is_refused(jail: Jail, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not below"):
        jail.relative(tmp_path / "away" / "x")
    with pytest.raises(ValueError, match="climbs out"):
        jail.open_dir("a/../../away")
    assert str(jail.relative(jail.root / "a" / "b")) == "a/b"


@pytest.mark.parametrize("where", ["a", "a/b"])
def test_a_link_at_any_folder_of_a_path_is_refused_with_its_place(
    jail: Jail, tmp_path: Path, where: str
) -> None:
    target = jail.root / where
    os.rename(target, tmp_path / "away" / "moved")
    os.symlink(tmp_path / "away" / "moved", target)
    with pytest.raises(PlantedLink) as caught:
        jail.open("a/b/new.txt", os.O_WRONLY | os.O_CREAT, create_parents=True)
    assert caught.value.path == where
    assert not list((tmp_path / "away").rglob("new.txt"))


def test_a_link_at_the_file_itself_is_refused_and_its_target_untouched(
    jail: Jail, tmp_path: Path
) -> None:
    victim = tmp_path / "away" / "victim"
    victim.write_bytes(b"keep")
    os.symlink(victim, jail.root / "a" / "f")
    with pytest.raises(PlantedLink):
        jail.open("a/f", os.O_WRONLY | os.O_TRUNC)
    assert victim.read_bytes() == b"keep"


def test_rename_never_moves_a_link_and_makes_the_target_folders(jail: Jail, tmp_path: Path) -> None:
    os.symlink(tmp_path / "away", jail.root / "a" / "link")
    with pytest.raises(PlantedLink):
        jail.rename("a/link", "c/d/moved")
    (jail.root / "a" / "real").write_bytes(b"x")
    jail.rename("a/real", "c/d/moved")
    assert (jail.root / "c" / "d" / "moved").read_bytes() == b"x"


def test_rmtree_of_a_link_removes_the_link_not_what_it_names(jail: Jail, tmp_path: Path) -> None:
    (tmp_path / "away" / "kept").write_bytes(b"k")
    os.symlink(tmp_path / "away", jail.root / "a" / "gone")
    jail.rmtree("a/gone")
    assert not os.path.lexists(jail.root / "a" / "gone")
    assert (tmp_path / "away" / "kept").read_bytes() == b"k"
