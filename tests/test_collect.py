"""Collection: YAML scenarios become pytest items, and bad ones are reported well."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_sai3.collect import ScenarioItem

CONFIGS = Path(__file__).resolve().parents[2] / "shared" / "sai3" / "configs"

GET = """\
workload:
  - op: get
    path: data/*
"""

# Sai3Warnings are what these runs check; the outer suite turns warnings into errors.
pytestmark = pytest.mark.filterwarnings("always::pytest_sai3.errors.Sai3Warning")


def collect(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider", *args)


def error_section(result: pytest.RunResult) -> list[str]:
    """The lines of the first collection error report, header excluded."""
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "ERROR collecting" in line)
    end = next(
        i for i in range(start + 1, len(lines)) if lines[i].startswith(("=", "_"))
    )
    return lines[start + 1 : end]


def test_one_item_per_scenario_file(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", put_smoke="name: put_smoke\n" + GET, get_smoke=GET)

    result = collect(pytester, "put_smoke.yaml", "get_smoke.yaml")

    result.stdout.fnmatch_lines(
        ["put_smoke.yaml::put_smoke", "get_smoke.yaml::get_smoke", "2 tests collected*"]
    )
    assert result.ret == pytest.ExitCode.OK


def test_multi_document_file_gives_one_item_per_document(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", docs=GET + "---\n" + GET + "---\nname: third\n" + GET)

    result = collect(pytester, "docs.yaml")

    result.stdout.fnmatch_lines(
        ["docs.yaml::docs-1", "docs.yaml::docs-2", "docs.yaml::third", "3 tests *"]
    )


def test_parametrize_gives_readable_ids(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", mixed="parametrize:\n  concurrency: [1, 32]\n" + GET)

    result = collect(pytester, "mixed.yaml")

    result.stdout.fnmatch_lines(
        [
            "mixed.yaml::mixed[[]concurrency=1[]]",
            "mixed.yaml::mixed[[]concurrency=32[]]",
            "2 tests collected*",
        ]
    )


def test_one_combination_selected_by_node_id(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", mixed="parametrize:\n  concurrency: [1, 32]\n" + GET)

    result = collect(pytester, "mixed.yaml::mixed[concurrency=32]")

    result.stdout.fnmatch_lines(["mixed.yaml::mixed[[]concurrency=32[]]", "1 test *"])
    result.stdout.no_fnmatch_line("*concurrency=1]*")


@pytest.fixture
def tagged(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        tagged=(
            "name: fast\ntags: [smoke, s3]\n" + GET + "---\n"
            "name: slow\ntags: [soak]\n" + GET + "---\n"
            "name: plain\n" + GET
        ),
    )


@pytest.mark.usefixtures("tagged")
@pytest.mark.parametrize(
    ("args", "selected"),
    [
        pytest.param(("-m", "smoke"), ["fast"], id="m-tag"),
        pytest.param(("-m", "soak or s3"), ["fast", "slow"], id="m-expression"),
        pytest.param(("-m", "not smoke"), ["slow", "plain"], id="m-not"),
        pytest.param(("-k", "soak"), ["slow"], id="k-tag"),
        pytest.param(("-k", "plain"), ["plain"], id="k-name"),
        pytest.param(("-k", "smoke and not soak"), ["fast"], id="k-expression"),
    ],
)
def test_tags_are_markers(
    pytester: pytest.Pytester, args: tuple[str, ...], selected: list[str]
) -> None:
    result = collect(pytester, "--strict-markers", "tagged.yaml", *args)

    result.stdout.fnmatch_lines([f"tagged.yaml::{name}" for name in selected])
    for name in {"fast", "slow", "plain"} - set(selected):
        result.stdout.no_fnmatch_line(f"tagged.yaml::{name}")
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.usefixtures("tagged")
def test_tag_markers_are_listed(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers", "tagged.yaml")

    result.stdout.fnmatch_lines(["@pytest.mark.sai3: *"])


def test_scenarios_dir_is_collected_by_default_pattern(
    pytester: pytest.Pytester,
) -> None:
    (pytester.path / "scenarios" / "s3").mkdir(parents=True)
    (pytester.path / "scenarios" / "one.yaml").write_text(GET)
    (pytester.path / "scenarios" / "s3" / "two.yml").write_text(GET)
    (pytester.path / "elsewhere.yaml").write_text("jobs: {}\n")

    result = collect(pytester)

    result.stdout.fnmatch_lines(
        ["scenarios/one.yaml::one", "scenarios/s3/two.yml::two", "2 tests *"]
    )


def test_ini_pattern_names_the_scenarios(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsai3_scenarios =\n    perf/*.yaml\n")
    (pytester.path / "perf").mkdir()
    # Only a name: nothing marks it as a scenario but the ini pattern.
    (pytester.path / "perf" / "named.yaml").write_text("name: named\n")
    (pytester.path / "other").mkdir()
    (pytester.path / "other" / "named.yaml").write_text("name: named\n")

    result = collect(pytester)

    result.stdout.fnmatch_lines(
        ["*ERROR collecting perf/named.yaml*", "*perf/named.yaml:1: workload: *"]
    )
    result.stdout.no_fnmatch_line("*other/named.yaml*")
    result.assert_outcomes(errors=1)


def test_yaml_that_is_not_a_scenario_is_ignored(pytester: pytest.Pytester) -> None:
    folder = pytester.mkdir("bench")
    (folder / "environment.yml").write_text("name: env\ndependencies: [python]\n")
    (folder / "action.yaml").write_text("name: act\ndescription: an action\n")
    (folder / "ci.yaml").write_text("jobs:\n  test: {runs-on: ubuntu}\n")
    (folder / "empty.yaml").write_text("")
    (folder / "real.yaml").write_text(GET)

    result = collect(pytester, "bench")

    result.stdout.fnmatch_lines(["bench/real.yaml::real", "1 test collected*"])
    assert result.ret == pytest.ExitCode.OK


def test_misspelt_required_key_is_one_line_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml", bad="duration: 5s\nconcurrency: 4\nwokload:\n  - op: get\n"
    )

    result = collect(pytester, "bad.yaml")

    path = pytester.path / "bad.yaml"
    assert error_section(result) == [
        f"{path}:3: wokload: unknown key (did you mean 'workload'?); expected "
        "workload: a list of ops such as [{op: get, path: 'data/*', weight: 100}]"
    ]
    assert "Traceback" not in result.stdout.str()
    result.assert_outcomes(errors=1)


def test_misspelt_optional_key_is_one_line_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", typo="duration: 5s\nconcurency: 4\n" + GET)

    result = collect(pytester, "typo.yaml")

    path = pytester.path / "typo.yaml"
    assert error_section(result) == [
        f"{path}:2: concurency: unknown key: did you mean 'concurrency'?"
    ]
    assert "Traceback" not in result.stdout.str()
    result.assert_outcomes(errors=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "concurrency: -1\n" + GET,
            "bad.yaml:1: concurrency: expected an integer >= 1, found an integer -1",
            id="wrong-value",
        ),
        pytest.param(
            "a: [1, 2\nb: 3\n",
            "bad.yaml:2: not valid YAML: expected ',' or ']', but got ':'",
            id="yaml-syntax",
        ),
        pytest.param(
            "multi_endpoint:\n  endpoints: []\n" + GET,
            "bad.yaml:2: multi_endpoint.endpoints: expected 1 to 32 endpoint URIs, "
            "found an empty list",
            id="empty-endpoints",
        ),
        pytest.param(
            "workload:\n  - op: put\n    path: x\n    object_size: 4 lots\n",
            "bad.yaml:4: workload[[]0[]].object_size: expected a size such as 4096*",
            id="bad-size",
        ),
        pytest.param(
            "expect:\n  latency:\n    get:\n      p42: 1ms\n" + GET,
            "bad.yaml:4: expect.latency.get.p42: expected a percentile: *",
            id="bad-percentile",
        ),
        pytest.param(
            "concurrency: 1\nconcurrency: 2\n" + GET,
            "bad.yaml:2: concurrency: expected each key once in a mapping, *",
            id="duplicate-key",
        ),
        pytest.param(
            "- op: get\n",
            "bad.yaml:1: expected a mapping of keys, found a list",
            id="not-a-mapping",
        ),
    ],
)
def test_collection_errors(pytester: pytest.Pytester, text: str, expected: str) -> None:
    pytester.makefile(".yaml", bad=text)

    result = collect(pytester, "bad.yaml")

    section = error_section(result)
    assert len(section) == 1, section
    result.stdout.fnmatch_lines([f"*/{expected}"])
    assert "Traceback" not in result.stdout.str()
    result.assert_outcomes(errors=1)


WARNED = """\
max_concurrency: 4
workload:
  - op: get
    path: data/*
    use_multi_endpoint: true
"""


def test_ignored_and_unknown_keys_warn(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", warned=WARNED)

    result = collect(pytester, "warned.yaml")

    result.stdout.fnmatch_lines(
        [
            "warned.yaml::warned",
            "*warnings summary*",
            "*warned.yaml:1: Sai3Warning: *warned.yaml:1: max_concurrency: unknown "
            "key, ignored (did you mean 'concurrency'?)",
            "*warned.yaml:5: Sai3Warning: *warned.yaml:5: "
            "workload[[]0[]].use_multi_endpoint: ignored: sai3-bench removed it*",
        ]
    )
    assert result.stdout.str().count(": Sai3Warning: ") == 2
    assert result.ret == pytest.ExitCode.OK


def test_warnings_can_be_errors_with_w(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", warned=WARNED)

    result = pytester.runpytest(
        "-W", "error::pytest_sai3.errors.Sai3Warning", "--co", "-q", "warned.yaml"
    )

    path = pytester.path / "warned.yaml"
    assert error_section(result) == [
        f"{path}:1: max_concurrency: unknown key, ignored (did you mean 'concurrency'?)"
    ]
    result.assert_outcomes(errors=1)


def test_strict_turns_warnings_into_errors(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", warned=WARNED)

    result = collect(pytester, "--sai3-strict", "warned.yaml")

    path = pytester.path / "warned.yaml"
    assert error_section(result) == [
        f"{path}:1: max_concurrency: unknown key "
        "(did you mean 'concurrency'?) (--sai3-strict)"
    ]
    result.assert_outcomes(errors=1)


def test_strict_accepts_a_clean_scenario(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", clean=GET)

    result = collect(pytester, "--sai3-strict", "clean.yaml")

    result.stdout.fnmatch_lines(["clean.yaml::clean", "1 test collected*"])
    assert result.ret == pytest.ExitCode.OK


def file_scenario(root: Path) -> str:
    return f"""\
name: plan
duration: 5s
concurrency: 4
io_rate:
  iops: 200
multi_endpoint:
  strategy: round_robin
  endpoints:
    - file://{root}/ep1/
    - file://{root}/ep2/
prepare:
  ensure_objects:
    - base_uri: data/
      count: 100
      size_spec: 4KiB
workload:
  - op: get
    path: data/*
    weight: 70
  - op: put
    path: data/
    object_size: 4096
    weight: 30
"""


def test_dry_run_prints_the_plan_and_touches_nothing(
    pytester: pytest.Pytester,
) -> None:
    root = pytester.path / "store"
    pytester.makefile(".yaml", plan=file_scenario(root))

    result = pytester.runpytest("--sai3-dry-run", "-p", "no:cacheprovider", "plan.yaml")

    result.stdout.fnmatch_lines(
        [
            "*sai3: *(dry run)",
            "*sai3 scenarios*",
            f"endpoints (2, from multi_endpoint): file://{root}/ep1/, "
            f"file://{root}/ep2/",
            "strategy: round_robin; namespace: shared",
            "prepare: 100 objects under 'data/' (fixed 4 KiB, fill random); "
            "placement: round_robin over 2 endpoints",
            "op get: 70.0% on 'data/*'",
            "op put: 30.0% on 'data/', fixed 4 KiB",
            "bounds: duration 5s; concurrency 4; 200 ops/s exponential",
        ]
    )
    result.assert_outcomes(passed=1)
    assert not root.exists()


def test_dry_run_names_the_delete_pool(pytester: pytest.Pytester) -> None:
    root = pytester.path / "store"
    text = file_scenario(root) + "  - op: delete\n    path: data/*\n    weight: 10\n"
    pytester.makefile(".yaml", plan=text)

    result = pytester.runpytest("--sai3-dry-run", "-p", "no:cacheprovider", "plan.yaml")

    result.stdout.fnmatch_lines(
        [
            "prepare: 100 objects under 'data/' (fixed 4 KiB, fill random); *",
            "prepare: 100 more under 'data/' for the deletes to draw from *",
        ]
    )
    assert not root.exists()


def test_collect_only_touches_no_storage(pytester: pytest.Pytester) -> None:
    root = pytester.path / "store"
    pytester.makefile(".yaml", plan=file_scenario(root))

    result = collect(pytester, "plan.yaml")

    result.stdout.fnmatch_lines(["plan.yaml::plan"])
    assert not root.exists()


def test_reportinfo_points_at_file_and_line(pytester: pytest.Pytester) -> None:
    path = pytester.makefile(".yaml", docs=GET + "---\nname: second\n" + GET)

    items, _ = pytester.inline_genitems(str(path))

    assert all(isinstance(item, ScenarioItem) for item in items)
    assert [item.reportinfo() for item in items] == [
        (path, 0, "scenario docs-1"),
        (path, 4, "scenario second"),
    ]
    assert items[1].location == ("docs.yaml", 4, "scenario second")


@pytest.mark.skipif(not CONFIGS.is_dir(), reason="sai3-bench configs not found")
def test_every_sai3_bench_config_collects(pytester: pytest.Pytester) -> None:
    names = sorted(path.stem for path in CONFIGS.glob("*.yaml"))

    result = collect(pytester, str(CONFIGS))

    assert len(names) == 21
    # Node ids are relative to a rootdir that depends on where the clone lives.
    result.stdout.fnmatch_lines([f"*{name}.yaml::{name}" for name in names])
    result.stdout.fnmatch_lines(["21 tests collected*"])
    result.stdout.no_fnmatch_line("*error*")
    assert result.ret == pytest.ExitCode.OK
