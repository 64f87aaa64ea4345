"""The workloads of issue 7, and the scenario file that runs one through the plugin.

Every workload reads a dataset prepared once (``<name>/data/``) and writes new
objects under ``<name>/put/<run>/``, a folder of each run's own, so the objects a
run writes never join the pool the next run reads (each side reads the same pool)
and no run creates files in a folder another run filled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pytest_sai3.dataset import PREPARED, object_name

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Workload:
    """One op mix over four endpoints.

    :param name: a short identifier, also the key prefix of its objects.
    :param title: how tables name it.
    :param get_weight: the share of GETs in percent; the rest are PUTs.
    :param size: the object size in bytes, read and written.
    :param count: how many objects the GETs pick from (0 without GETs).
    """

    name: str
    title: str
    get_weight: int
    size: int
    count: int

    @property
    def put_weight(self) -> int:
        """The share of PUTs in percent."""
        return 100 - self.get_weight

    @property
    def data_prefix(self) -> str:
        """Where the prepared objects are, relative to an endpoint."""
        return f"{self.name}/data/"

    def put_prefix(self, run: str) -> str:
        """Where the PUTs of one run write, relative to an endpoint.

        :param run: the run's name, unique within a bench run.
        """
        return f"{self.name}/put/{run}/"

    def keys(self) -> list[str]:
        """The prepared objects' keys, named as the plugin's prepare names them."""
        return [object_name(self.data_prefix, PREPARED, i) for i in range(self.count)]


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("get_1k", "1 KiB GET", 100, KIB, 1000),
        Workload("put_1k", "1 KiB PUT", 0, KIB, 0),
        Workload("get_1m", "1 MiB GET", 100, MIB, 64),
        Workload("mix_4k", "70/30 GET/PUT 4 KiB", 70, 4 * KIB, 1000),
    )
}


def scenario_data(
    workload: Workload,
    *,
    duration: float,
    concurrency: int,
    client: str | None = None,
    processes: int | str | None = None,
    prepare_only: bool = False,
    run: str = "run",
) -> dict[str, Any]:
    """The scenario mapping that runs ``workload`` through the plugin.

    The endpoints come from the site file; cleanup is off because the testbed
    removes the whole bucket or folder at the end, and a cleanup after every run
    would take longer than the runs.

    :param prepare_only: a scenario whose only use is creating the dataset.
    :param run: the run's name, which names the folder its PUTs write in.
    """
    ops: list[dict[str, Any]] = []
    if workload.get_weight:
        ops.append(
            {
                "op": "get",
                "path": workload.data_prefix + "*",
                "weight": workload.get_weight,
            }
        )
    if workload.put_weight and not prepare_only:
        ops.append(
            {
                "op": "put",
                "path": workload.put_prefix(run),
                "object_size": workload.size,
                "weight": workload.put_weight,
            }
        )
    data: dict[str, Any] = {
        "name": workload.name,
        "duration": f"{duration}s",
        "concurrency": concurrency,
        "seed": 7,
        "multi_endpoint": {"strategy": "round_robin"},
        "prepare": {"cleanup": False},
        "workload": ops,
    }
    if workload.count:
        data["prepare"]["ensure_objects"] = [
            {
                "base_uri": workload.data_prefix,
                "count": workload.count,
                "size_spec": workload.size,
            }
        ]
    if client is not None:
        data["client"] = client
    if processes is not None:
        data["processes"] = processes
    return data


def write_scenario(path: Path, data: dict[str, Any]) -> Path:
    """Write a scenario mapping as YAML and return its path."""
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
