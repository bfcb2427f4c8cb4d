"""match=exact: the applied record in the domain's metadata."""

from __future__ import annotations

from domain_samples import CANONICAL, DESIRED, parse

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._definition import applied as record


def test_exact_records_what_was_applied():
    desired = parse(DESIRED)
    assert record.exact_differences(desired, parse(CANONICAL))  # never applied with exact
    applied = record.with_applied(parse(CANONICAL), record.fingerprint(desired))
    applied = record.with_applied(applied, record.fingerprint(desired), record.fingerprint(applied))
    assert record.exact_differences(desired, applied) == []
    changed_elsewhere = dxml.parse_domain(dxml.etree.tostring(applied, encoding="unicode").replace("piix3-uhci", "ich9-ehci1"))
    assert record.exact_differences(desired, changed_elsewhere) == ["the definition was changed since it was applied"]
    other = parse(DESIRED.replace("<vcpu>2</vcpu>", "<vcpu>3</vcpu>"))
    assert "the desired definition differs from the one last applied" in record.exact_differences(other, applied)


def test_the_record_holds_no_hash_of_a_secret():
    """Anyone who may read the definition reads the record: a hash of a short
    password would be guessed offline. A changed secret is still a difference."""
    desired = parse(DESIRED)
    other_password = parse(DESIRED.replace("passwd='s3cret'", "passwd='n3wpass'"))
    assert record.fingerprint(desired) == record.fingerprint(other_password)
    assert record.fingerprint(desired) != record.fingerprint(parse(DESIRED.replace("passwd='s3cret'", "")))
    applied = record.with_applied(parse(CANONICAL), record.fingerprint(desired))
    applied = record.with_applied(applied, record.fingerprint(desired), record.fingerprint(applied))
    assert record.exact_differences(other_password, applied) == ["/domain/devices/graphics/@passwd: want '********', have '********'"]
