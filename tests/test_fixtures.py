"""The fixtures Python tests use: the site's filesystem and prepared datasets.

Run through pytester against the embedded S3 storage and against a site file
naming four real directories (four views of one folder).
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = """\
from collections import Counter


def test_dataset_through_the_router(sai3_dataset, sai3_filesystem):
    fs = sai3_filesystem
    dataset = sai3_dataset(8, size="1KiB", base="data/")
    assert dataset.keys == [f"data/prepared-{i:08d}.dat" for i in range(8)]
    assert dataset.sizes == [1024] * 8
    assert len(dataset.created) == 8
    for key in dataset.keys:
        assert len(fs.cat_file(key)) == 1024
    requests = [stats.requests for stats in fs.router.stats]
    # 1 listing of what exists, 8 puts, 8 gets, round robin over 4 endpoints.
    assert sum(requests) == 17 and max(requests) - min(requests) <= 1


def test_an_existing_object_is_kept(sai3_dataset, sai3_filesystem):
    fs = sai3_filesystem
    fs.pipe_file("data/prepared-00000001.dat", b"mine")
    dataset = sai3_dataset(3, size=16, base="data/")
    assert [key for key, _ in dataset.created] == [
        "data/prepared-00000000.dat", "data/prepared-00000002.dat"
    ]
    assert fs.cat_file("data/prepared-00000001.dat") == b"mine"
"""

AFTER = """\
import os
def test_after(sai3_filesystem):
    # The teardown of the dataset tests deleted only what they created.
    assert os.listdir({root!r}) in ([], ["data"])
    left = []
    for folder, _, files in os.walk({root!r}):
        left += files
    assert left == ["prepared-00000001.dat"]
"""


@pytest.mark.usefixtures("weed_path")
def test_fixtures_on_the_embedded_storage(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ds=TESTS)

    result = pytester.runpytest("-p", "no:cacheprovider")

    result.assert_outcomes(passed=2)


def test_fixtures_on_a_site_file(pytester: pytest.Pytester, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    uris = []
    for n in range(1, 5):
        (tmp_path / f"ep{n}").symlink_to(store, target_is_directory=True)
        uris.append(f"file://{tmp_path}/ep{n}/")
    site = pytester.makefile(
        ".yaml", site="endpoints:\n" + "".join(f"  - {uri}\n" for uri in uris)
    )
    pytester.makepyfile(test_ds=TESTS, test_zz_after=AFTER.format(root=str(store)))

    result = pytester.runpytest(f"--sai3-config={site}", "-p", "no:cacheprovider")

    result.assert_outcomes(passed=3)
