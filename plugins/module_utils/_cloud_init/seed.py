# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A cloud-init NoCloud seed: its files, and the ISO 9660 image that carries them.

cloud-init's NoCloud datasource reads ``user-data``, ``meta-data`` and, when there is
one, ``network-config`` from a filesystem labelled ``cidata``. The image is built here
in Python (pycdlib), on the controller, so the same code serves a local and a remote
hypervisor: the bytes are then uploaded into a storage volume through libvirt.

Idempotence is by content: ``read_files`` gives back the files of an existing seed,
and two seeds are the same when their files are (the image itself carries timestamps).
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

try:
    import pycdlib

    HAS_PYCDLIB = True
    PYCDLIB_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module through missing_required_lib
    HAS_PYCDLIB = False
    PYCDLIB_IMPORT_ERROR = exc

from ansible.module_utils.common.yaml import yaml_dump

LABEL = "cidata"
# The names cloud-init looks for, in the order they are written; the 8.3 names are
# what a reader without Rock Ridge or Joliet sees.
FILES = {"user-data": "/USER_DATA.;1", "meta-data": "/META_DATA.;1", "network-config": "/NETWORK_CONFIG.;1"}
# A seed is a few kilobytes; anything much larger is not one of ours.
MAX_SEED_BYTES = 16 * 1024 * 1024


class SeedError(ValueError):
    """The content given, or found in a volume, is not a usable NoCloud seed."""


def render(value: Any, what: str, cloud_config: bool = False) -> str:
    """The text of one seed file: a string as given, a mapping as YAML.

    A mapping given as user-data becomes ``#cloud-config`` (cloud-init ignores
    user-data without a header it knows)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        text = yaml_dump(value, default_flow_style=False, sort_keys=False, allow_unicode=True)
        return "#cloud-config\n" + text if cloud_config else text
    raise SeedError(f"{what} must be a string or a mapping, not {type(value).__name__}")


def files_of(user_data: Any, meta_data: Any, network_config: Any, instance_id: str) -> dict[str, str]:
    """The seed's files from the module's options.

    Meta-data given as a mapping without ``instance-id`` gets ``instance_id``:
    cloud-init needs one, and a stable one keeps a re-seeded guest the same instance."""
    if meta_data is None:
        meta_data = {}
    if isinstance(meta_data, dict) and "instance-id" not in meta_data:
        meta_data = {"instance-id": instance_id, **meta_data}
    files = {
        "user-data": render("#cloud-config\n{}\n" if user_data is None else user_data, "user_data", cloud_config=True),
        "meta-data": render(meta_data, "meta_data"),
    }
    if network_config is not None:
        files["network-config"] = render(network_config, "network_config")
    return files


def digests(files: dict[str, str]) -> dict[str, str]:
    """The SHA-256 of each file, as reported to the user."""
    return {name: hashlib.sha256(text.encode()).hexdigest() for name, text in files.items()}


def build(files: dict[str, str]) -> bytes:
    """The ISO 9660 image (Joliet and Rock Ridge names, volume label ``cidata``)."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=4, joliet=3, rock_ridge="1.09", vol_ident=LABEL)
    for name, text in files.items():
        data = text.encode()
        iso.add_fp(io.BytesIO(data), len(data), iso_path=FILES[name], rr_name=name, joliet_path="/" + name)
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


def read_files(image: bytes) -> dict[str, str]:
    """The files of a seed image; SeedError when ``image`` is not a NoCloud seed."""
    iso = pycdlib.PyCdlib()
    try:
        iso.open_fp(io.BytesIO(image))
    except pycdlib.pycdlibexception.PyCdlibException as exc:
        raise SeedError(f"it holds no ISO 9660 filesystem ({exc})") from exc
    try:
        label = iso.pvd.volume_identifier.decode("ascii", "replace").strip().lower()
        if label != LABEL:
            raise SeedError(f"its ISO 9660 label is {label!r}, not {LABEL!r}")
        return {name: _text(iso, name) for name in FILES if _has(iso, name)}
    finally:
        iso.close()


def _has(iso: Any, name: str) -> bool:
    try:
        iso.get_record(rr_path="/" + name)
    except pycdlib.pycdlibexception.PyCdlibException:
        return False
    return True


def _text(iso: Any, name: str) -> str:
    out = io.BytesIO()
    iso.get_file_from_iso_fp(out, rr_path="/" + name)
    try:
        return out.getvalue().decode()
    except UnicodeDecodeError as exc:
        raise SeedError(f"its {name} is not UTF-8 text") from exc
