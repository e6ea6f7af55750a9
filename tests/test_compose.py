"""compose.yaml is a valid Compose file whose services run commands this project has (no engine runs here)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from scenedex.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def _ours(service: dict) -> bool:  # type: ignore[type-arg]
    return "build" in service or str(service.get("image", "")).startswith("scenedex")


def test_the_stack_has_every_service(compose):
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "api", "worker-cpu", "worker-gpu", "flower"} <= set(services)
    for name, service in services.items():
        assert set(service) <= {"image", "build", "command", "environment", "volumes", "ports", "depends_on",
                                "healthcheck", "restart", "deploy"}, name
        if name != "migrate":
            assert "healthcheck" in service, f"{name} has no health check"
            assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")


def test_volumes_are_named_and_media_is_read_only(compose):
    declared = set(compose["volumes"])
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source, target, *mode = volume.split(":")
            if not source.startswith(("/", ".", "$")):
                assert source in declared, f"{name}: volume {source} is not declared"
            if target == "/media":
                assert mode == ["ro"], f"{name} mounts the media library writable"
    assert any("/media" in v for v in compose["services"]["worker-cpu"]["volumes"])


def test_migrations_run_once_before_the_api_and_workers(compose):
    services = compose["services"]
    assert services["migrate"]["command"] == ["scenedex", "migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "worker-cpu", "worker-gpu"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["postgres"]["condition"] == "service_healthy"


def test_the_gpu_worker_reserves_an_nvidia_device_and_takes_the_gpu_queue(compose):
    gpu = compose["services"]["worker-gpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert gpu["command"][gpu["command"].index("--queues") + 1] == "gpu"
    cpu = compose["services"]["worker-cpu"]["command"]
    assert "index" in cpu[cpu.index("--queues") + 1].split(","), "exactly one kind of worker writes the index"


def test_every_command_of_our_image_parses_with_our_cli(compose):
    parser = build_parser()
    checked = 0
    for name, service in compose["services"].items():
        if not _ours(service):
            continue
        command = service["command"]
        if command[0] == "scenedex":
            args = parser.parse_args(command[1:])
            assert callable(args.func), name
        else:
            assert command[:3] == ["celery", "-A", "workers.tasks"], name
        for probe in [service.get("healthcheck", {}).get("test", [])]:
            if probe[1:4] == ["celery", "-A", "workers.tasks"]:
                import workers.tasks  # noqa: F401 - the module the health check names must import

        checked += 1
    assert checked >= 4


def test_the_dockerfile_copies_every_package_and_runs_our_command():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("scenedex", "indexer", "search", "qa", "db", "workers", "web"):
        assert f"COPY {package} {package}" in dockerfile
    cmd = dockerfile.split("CMD ", 1)[1].strip()
    assert shlex.split(cmd.strip("[]").replace(",", " "))[0].strip('"') == "scenedex"
