"""Run the exporter the way a rendered pod would, without a cluster.

`materialize` lays out the container's volume mounts under a temporary root (ConfigMaps and
Secrets the chart rendered, dummy files for Secrets it only references) and returns the
container's own args and env, rewritten to that root. `Process` runs real `sync-exporter`
processes (the exporter, a simulated Sync node) and always stops them.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.deploy.chart import Rendered

MOUNT_ROOT = "/etc/sync-exporter/"
#: A real certificate for `tls.ca_file` entries (the config loader parses it).
TEST_CERT = Path(__file__).resolve().parent / "fixtures" / "ca.pem"
DUMMY_PASSWORD = "dummy-password"
SCRIPT = Path(sys.executable).parent / "sync-exporter"


@dataclass(frozen=True)
class PodFiles:
    """A container's files laid out under ``root``, and how to start it there."""

    root: Path
    args: tuple[str, ...]
    env: dict[str, str]

    @property
    def config_file(self) -> Path:
        """The config file the container's --config.file names, under ``root``."""
        (flag,) = [a for a in self.args if a.startswith("--config.file=")]
        return Path(flag.split("=", 1)[1])


def _relocate(text: str, root: Path) -> str:
    return text.replace(MOUNT_ROOT, f"{root}/")


def materialize(rendered: Rendered, container: dict[str, Any], root: Path) -> PodFiles:
    """Lay out ``container``'s mounts under ``root`` from ``rendered``'s objects."""
    configmaps = {m["metadata"]["name"]: m for m in rendered.of_kind("ConfigMap")}
    secrets = {m["metadata"]["name"]: m for m in rendered.of_kind("Secret")}
    volumes = {
        v["name"]: v
        for m in rendered.manifests
        if m["kind"] == "Deployment"
        for v in m["spec"]["template"]["spec"]["volumes"]
    }
    if not volumes:  # sidecar: the volumes come from the NOTES snippet's volumes block
        import yaml

        block = rendered.notes.split("\nvolumes:\n", 1)[1].split("\n\n", 1)[0]
        volumes = {v["name"]: v for v in yaml.safe_load("volumes:\n" + block)["volumes"]}
    config_text = ""
    for volume in volumes.values():
        if "configMap" in volume and volume["configMap"]["name"] in configmaps:
            config_text += "".join(configmaps[volume["configMap"]["name"]]["data"].values())
    for mount in container["volumeMounts"]:
        target = Path(_relocate(mount["mountPath"].rstrip("/") + "/", root))
        target.mkdir(parents=True, exist_ok=True)
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            data = configmaps.get(volume["configMap"]["name"], {}).get("data")
            if data is None:  # a ConfigMap from outside the chart: a CA for https nodes
                data = {"ca.pem": TEST_CERT.read_text(encoding="utf-8")}
            for key, value in data.items():
                (target / key).write_text(_relocate(value, root), encoding="utf-8")
        elif "secret" in volume:
            name = volume["secret"]["secretName"]
            if name in secrets:
                files = {k: base64.b64decode(v) for k, v in secrets[name]["data"].items()}
            else:  # an existingSecret: one file per password_file the config names there
                prefix = mount["mountPath"].rstrip("/") + "/"
                files = {
                    path.removeprefix(prefix): (DUMMY_PASSWORD + "\n").encode()
                    for path in re.findall(r"password_file: (\S+)", config_text)
                    if path.startswith(prefix)
                }
            write_secret_volume(target, files)
    env = {"POD_NAME": "sync-0", "POD_NAMESPACE": "sync"}
    for item in container.get("env", []):
        env.setdefault(item["name"], item.get("value", DUMMY_PASSWORD))
    for source in container.get("envFrom", []):  # only sources the release itself renders
        if "secretRef" in source:
            secret = secrets[source["secretRef"]["name"]]
            encoded = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
            env.update({**encoded, **secret.get("stringData", {})})
        else:
            env.update(configmaps[source["configMapRef"]["name"]].get("data", {}))
    args = tuple(_relocate(a, root) for a in container["args"])
    return PodFiles(root=root, args=args, env=env)


def write_secret_volume(target: Path, files: dict[str, bytes]) -> None:
    """Write (or rotate) a Secret volume the way the kubelet does.

    The files live in a timestamped directory; ``..data`` links to it and each key links
    through ``..data``. An update writes a new directory and renames a fresh ``..data``
    link over the old one, so a reader sees the old or the new Secret, never a mix.
    """
    generation = target / f"..{time.time_ns()}"
    generation.mkdir()
    for key, content in files.items():
        (generation / key).write_bytes(content)
        link = target / key
        if not link.is_symlink():
            link.symlink_to(Path("..data") / key)
    data = target / "..data"
    old = data.resolve() if data.is_symlink() else None
    swap = target / "..data_tmp"
    swap.symlink_to(generation.name)
    swap.rename(data)
    if old is not None:
        for stale in old.iterdir():
            stale.unlink()
        old.rmdir()


def free_port() -> int:
    """A loopback port nothing listens on (closed again at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """GET ``url``; the status and body, also for error statuses."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_serving(proc: subprocess.Popen[str], url: str, within: float = 15) -> None:
    """Return once ``url`` answers at all; fail with ``proc``'s output if it exits first."""
    deadline = time.monotonic() + within
    while True:
        if proc.poll() is not None:
            output = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"exited {proc.returncode} before serving:\n{output}")
        try:
            http_get(url, timeout=1)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def process(
    args: Sequence[str], env: dict[str, str], *, ready_url: str | None = None
) -> Iterator[subprocess.Popen[str]]:
    """Run ``sync-exporter ARGS``; wait for ``ready_url`` to answer; always stop it."""
    proc = subprocess.Popen(
        [str(SCRIPT), *args],
        env={"PATH": os.environ.get("PATH", ""), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        if ready_url is not None:
            wait_serving(proc, ready_url)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout:
            proc.stdout.close()
