# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virt_cloud_init: read the seed volume that is there, decide from its files, act.

One sequence for a real run and check mode: the files asked for are built, the
existing seed (if any) is read back and compared file by file; ``changed``, the
diff and the write all come from that one comparison."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.virtops.libvirt.plugins.module_utils._cloud_init import seed
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import VirtOpsError
from ansible_collections.virtops.libvirt.plugins.module_utils._core.module import CONNECTION_ARGUMENT_SPEC, run_module
from ansible_collections.virtops.libvirt.plugins.module_utils._storage import names, pools, volumes
from ansible_collections.virtops.libvirt.plugins.module_utils._storage.usage import used_by_domains

ARGUMENT_SPEC: dict[str, Any] = {
    **CONNECTION_ARGUMENT_SPEC,
    "pool": {"type": "str", "required": True},
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
    "user_data": {"type": "raw"},
    "meta_data": {"type": "raw"},
    "network_config": {"type": "raw"},
}


@dataclass
class Found:
    """The seed volume as it is: its handle, path and files (None when there is none)."""

    handle: Any = None
    path: str | None = None
    files: dict[str, str] | None = None


def run(module: AnsibleModule) -> None:
    if not seed.HAS_PYCDLIB:
        module.fail_json(msg=missing_required_lib("pycdlib", url="https://pypi.org/project/pycdlib/"), exception=seed.PYCDLIB_IMPORT_ERROR)
    params = module.params

    def check() -> None:
        names.check_name(params["pool"], "pool", "storage pool")
        names.check_name(params["name"], "name", "volume")

    run_module(module, lambda conn: apply(conn, params, module.check_mode), check=check)


def apply(conn: Connection, params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    pool_name, name = params["pool"], params["name"]
    label = f"volume {name!r} of pool {pool_name!r}"
    if params["state"] == "absent":
        pool = pools.find_pool(conn, pool_name)
        found = read(conn, pool, name, label) if pool is not None else Found()
        return remove(conn, found, label, check_mode)
    pool = pools.active_pool(conn, pool_name)
    try:
        files = seed.files_of(params["user_data"], params["meta_data"], params["network_config"], name)
    except seed.SeedError as err:
        raise VirtOpsError(f"The seed {label} cannot be built: {err}.") from err
    found = read(conn, pool, name, label)
    image = seed.build(files)
    result: dict[str, Any] = {
        "changed": found.files != files,
        "seed": {"pool": pool_name, "name": name, "path": found.path, "size": len(image), "files": seed.digests(files)},
        "diff": {"before": _text(found.files), "after": _text(files)},
    }
    if result["changed"] and not check_mode:
        if found.handle is not None:
            volumes.delete_volume(conn, found.handle, label)
        handle = volumes.upload_bytes(conn, pool, name, image)
        result["seed"]["path"] = volumes.path_of(conn, handle, label)
    return result


def read(conn: Connection, pool: Any, name: str, label: str) -> Found:
    """The seed volume ``name`` of ``pool`` and its files; VirtOpsError when a volume
    of that name is there but holds no NoCloud seed (it is never overwritten)."""
    handle = volumes.find_volume(conn, pool, name)
    if handle is None:
        return Found()
    size = volumes.capacity_of(conn, handle, label)
    if size > seed.MAX_SEED_BYTES:
        raise VirtOpsError(_not_a_seed(label, f"it holds {size} bytes, more than a seed ever does"))
    try:
        files = seed.read_files(volumes.download_bytes(conn, handle, seed.MAX_SEED_BYTES))
    except seed.SeedError as err:
        raise VirtOpsError(_not_a_seed(label, str(err))) from err
    return Found(handle, volumes.path_of(conn, handle, label), files)


def remove(conn: Connection, found: Found, label: str, check_mode: bool) -> dict[str, Any]:
    if found.handle is None:
        return {"changed": False, "seed": None, "diff": {"before": "", "after": ""}}
    users = used_by_domains(conn, [volumes.ref(conn, found.handle, label)])
    if users:
        reason = next(iter(users.values()))
        raise VirtOpsError(f"The seed {label} is {reason}; remove that domain first (virtops.libvirt.virt_domain state=absent). Nothing was deleted.")
    if not check_mode:
        volumes.delete_volume(conn, found.handle, label)
    return {"changed": True, "seed": None, "diff": {"before": _text(found.files), "after": ""}}


def _not_a_seed(label: str, why: str) -> str:
    return f"The {label} is not a cloud-init NoCloud seed ({why}); it is left as it is. Choose another name, or remove that volume yourself."


def _text(files: dict[str, str] | None) -> str:
    """The files of a seed as one text for --diff, each under a line naming it."""
    if not files:
        return ""
    return "".join(f"# --- {name}\n{text}{'' if text.endswith(chr(10)) else chr(10)}" for name, text in files.items())
