"""The NoCloud seed: its files from the options, the image that carries them, and
reading them back (the comparison virt_cloud_init's idempotence rests on)."""

from __future__ import annotations

import io

import pycdlib
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._cloud_init import seed


def test_a_mapping_of_user_data_is_cloud_config_and_strings_are_kept_as_given():
    files = seed.files_of({"hostname": "web1", "packages": ["nginx"]}, None, None, "web1-seed.iso")
    assert files["user-data"] == "#cloud-config\nhostname: web1\npackages:\n- nginx\n"
    assert seed.files_of("#!/bin/sh\necho hi\n", None, None, "x")["user-data"] == "#!/bin/sh\necho hi\n"


def test_meta_data_gets_an_instance_id_unless_it_has_one():
    assert seed.files_of(None, None, None, "web1-seed.iso")["meta-data"] == "instance-id: web1-seed.iso\n"
    given = seed.files_of(None, {"local-hostname": "web1"}, None, "s")["meta-data"]
    assert given == "instance-id: s\nlocal-hostname: web1\n"
    assert seed.files_of(None, {"instance-id": "i-1"}, None, "s")["meta-data"] == "instance-id: i-1\n"
    assert seed.files_of(None, "instance-id: raw\n", None, "s")["meta-data"] == "instance-id: raw\n"


def test_network_config_is_a_file_only_when_given():
    assert "network-config" not in seed.files_of(None, None, None, "s")
    assert seed.files_of(None, None, {"version": 2}, "s")["network-config"] == "version: 2\n"


@pytest.mark.parametrize("bad", [42, 1.5, ["a"], True])
def test_other_types_are_refused(bad):
    with pytest.raises(seed.SeedError, match="must be a string or a mapping"):
        seed.files_of(bad, None, None, "s")


def test_an_image_gives_back_exactly_its_files():
    files = seed.files_of({"users": [{"name": "ünïcode"}]}, {"local-hostname": "db"}, {"version": 1, "config": []}, "s")
    image = seed.build(files)
    assert seed.read_files(image) == files


def test_the_image_is_labelled_cidata_with_the_names_cloud_init_looks_for():
    image = seed.build(seed.files_of(None, None, {"version": 2}, "s"))
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(image))
    assert iso.pvd.volume_identifier.strip() == b"cidata"
    joliet = {child.file_identifier().decode("utf-16_be") for child in iso.list_children(joliet_path="/")}
    assert {"user-data", "meta-data", "network-config"} <= joliet
    iso.close()


def test_two_builds_of_the_same_files_read_the_same():
    files = seed.files_of({"a": 1}, None, None, "s")
    assert seed.read_files(seed.build(files)) == seed.read_files(seed.build(files))
    assert seed.digests(files) == seed.digests(dict(files))


def test_what_is_not_a_seed_is_said_so():
    with pytest.raises(seed.SeedError, match="no ISO 9660 filesystem"):
        seed.read_files(b"\0" * 70000)
    other = pycdlib.PyCdlib()
    other.new(vol_ident="DATA")
    out = io.BytesIO()
    other.write_fp(out)
    with pytest.raises(seed.SeedError, match="label is 'data', not 'cidata'"):
        seed.read_files(out.getvalue())
