"""Helm for the seed scenario's task containers, which have no network: the files of the
installed helm-python-sdk package (Python over libhelm_c, Helm v4's Go SDK) as one layer,
pushed into a Dockyard server as the image `base/helm-python-sdk:0.2.2`, from which the seed
tools image copies /opt/helm-python."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.debian import DebianLayer, pack_layer
from tests.e2e.helpers import (
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Blob,
    RegistryHTTP,
    canonical_json,
    image_config,
)

SDK_VERSION = "0.2.2"
SDK_REPOSITORY, SDK_TAG = "base/helm-python-sdk", SDK_VERSION
SDK_FOLDER = "opt/helm-python"
# The loader looks for this name first; the wheel holds two more copies of the same library.
LIBRARY = f"libhelm_c.so.{SDK_VERSION}"


def installed_sdk() -> Path:
    """The folder of the installed `helm_python` package (fails when it is missing)."""
    spec = importlib.util.find_spec("helm_python")
    if spec is None or spec.origin is None:
        pytest.fail(
            "helm-python-sdk is not installed: pip install -e '.[test]' (it pins it)",
            pytrace=False,
        )
    import helm_python

    if helm_python.__version__ != SDK_VERSION:
        pytest.fail(
            f"helm-python-sdk {helm_python.__version__} is installed, the tests pin {SDK_VERSION}",
            pytrace=False,
        )
    return Path(spec.origin).parent


@pytest.fixture(scope="session")
def helm_sdk_layer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DebianLayer]:
    """The package's Python files and its native library under /opt/helm-python."""
    package = installed_sdk()
    work = tmp_path_factory.mktemp("helm-sdk")
    target = work / "root" / SDK_FOLDER / "helm_python"
    (target / "lib").mkdir(parents=True)
    for source in package.iterdir():
        if source.suffix == ".py" or source.name == "py.typed":
            shutil.copy2(source, target / source.name)
    shutil.copy2(package / "lib" / LIBRARY, target / "lib" / LIBRARY)
    layer = pack_layer(work / "root", work / "helm-sdk.tar.gz")
    shutil.rmtree(work / "root", ignore_errors=True)
    yield layer
    shutil.rmtree(work, ignore_errors=True)


def push_helm_sdk(http: httpx.Client, layer: DebianLayer) -> str:
    """Push the layer as `base/helm-python-sdk:0.2.2` (a files-only image, copied from, never
    run); the manifest digest."""
    config = Blob(canonical_json(image_config([layer.diff_id], cmd=())), OCI_CONFIG)
    registry = RegistryHTTP(http)
    registry.push_blob(SDK_REPOSITORY, config.data)
    assert registry.push_blob(SDK_REPOSITORY, layer.path.read_bytes()) == layer.digest
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": layer.digest, "size": layer.size}],
    }
    return registry.put_manifest(SDK_REPOSITORY, SDK_TAG, canonical_json(manifest), OCI_MANIFEST)
