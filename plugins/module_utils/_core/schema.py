# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A domain definition checked against libvirt's own RelaxNG schema (``domain.rng``),
so that check mode can predict what ``defineXMLFlags(..., VIR_DOMAIN_DEFINE_VALIDATE)``
would refuse.

``schema_problems()`` answers None when it cannot answer honestly: lxml is missing,
the schema is not installed or does not load, or the daemon's libvirt is another
version than the local library (the connection may be remote: the local schema then
describes another libvirt). Otherwise [] for a valid definition, or a few problems.

libxml2 reports a failure inside an ``<interleave>`` (most of domain.rng) only at the
interleave: a bad disk shows up as "/domain/devices: Element domain failed to
validate content", which is all libvirt itself says. So the failing element is
validated again on its own, against each element pattern the schema has for it at
that place (a grammar that includes domain.rng and starts there), descending while
that fails too: "/domain/devices/disk[1]/target: Invalid attribute bus for element
target (bus='nope')". Like libvirt, it explains the first failure only.

Costs measured on the test bed (2 vCPUs, libvirt 9.0.0, lxml 6.1, libxml2 2.14):
compiling domain.rng, once per process, takes 9 ms (13 ms with a cold page cache);
with it cached, checking a corpus definition (tests/corpus/domains, 2.4 KB median,
5.5 KB at most) takes 0.3 ms median, 1.7 ms at most, serialising it, re-parsing it
and asking the daemon for its version (0.1 ms on qemu:///system) included.
Explaining a failure the first time costs about 35 ms (reading the schema files,
compiling a grammar per level it descends, 8 ms each, all cached), 1.5 ms after.
"""

from __future__ import annotations

import copy
import os
import re
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._core import xml as dxml
from ansible_collections.virtops.libvirt.plugins.module_utils._core.client import Connection, call, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._core.errors import ConnectionLostError, LibvirtCallError

SCHEMA_DIR = "/usr/share/libvirt/schemas"  # libvirt-common (Debian: libvirt-daemon) installs them here
DOMAIN_SCHEMA = "domain.rng"
MAX_PROBLEMS = 3
MAX_DEPTH = 8  # levels the explanation descends at most (devices, disk, target, ...)

RNG_NS = "http://relaxng.org/ns/structure/1.0"
_RNG = f"{{{RNG_NS}}}"
# Patterns that hold no element pattern: the walk does not look inside them.
_LEAF_PATTERNS = {f"{_RNG}{name}" for name in ("attribute", "data", "value", "text", "empty", "notAllowed", "list")}
# Constructs the walk does not follow: a grammar using them is not walked (no explanation
# deeper than libxml2's own).
_UNFOLLOWED = {f"{_RNG}{name}" for name in ("externalRef", "parentRef", "grammar")}
_EXTRA_ELEMENT = re.compile(r"Extra element (\S+) in interleave")
_INVALID_ATTRIBUTE = re.compile(r"Invalid attribute (\S+) for element \S+$")

Schema = Any  # an lxml.etree.RelaxNG
Grammar = Any  # (defines by name, start elements) of a schema, or None when it is not walked

# Per process: the compiled domain.rng by path; the schema files' defines and starts by
# path; the grammar starting at an element's patterns by (path, element names).
_SCHEMAS: dict[str, Schema] = {}
_GRAMMARS: dict[str, Grammar] = {}
_FOCUSED: dict[tuple[str, tuple[str, ...]], list[Schema]] = {}


def schema_problems(root: dxml.Element, conn: Connection, schema_dir: str = SCHEMA_DIR) -> list[str] | None:
    """What libvirt's schema says against the definition ``root``, exactly as it would be
    sent to libvirt: [] when it is valid, at most MAX_PROBLEMS readable problems
    ("<element path>: <what the schema says>") when it is not, None when it cannot tell."""
    if dxml.etree is None or libvirt is None:
        return None
    path = os.path.join(schema_dir, DOMAIN_SCHEMA)
    if not os.path.isfile(path) or not same_libvirt(conn):
        return None
    relaxng = load_schema(path)
    if relaxng is None:
        return None
    document = dxml.parse(dxml.to_libvirt(root), "the definition to validate").getroottree()
    if relaxng.validate(document):
        return []
    return _explain(path, document, _entries(relaxng.error_log))


def same_libvirt(conn: Connection) -> bool:
    """Whether the daemon runs the libvirt version of the local library (whose schemas
    are installed here); False when either version cannot be read."""
    try:
        local = call("read the version of the local libvirt library", libvirt.getVersion)
        daemon = conn.call("read the libvirt version of the daemon", conn.raw.getLibVersion)
    except ConnectionLostError:
        raise
    except LibvirtCallError:
        return False
    return bool(local) and local == daemon


def load_schema(path: str) -> Schema | None:
    """The compiled RelaxNG schema at ``path`` (cached), None when it does not load."""
    if path not in _SCHEMAS:
        try:
            _SCHEMAS[path] = dxml.etree.RelaxNG(file=path)
        except (dxml.etree.LxmlError, OSError):
            return None
    return _SCHEMAS[path]


# -- the explanation ------------------------------------------------------------------
class _Entry:
    """One line of libxml2's validation log."""

    def __init__(self, path: str | None, message: str, kind: int) -> None:
        self.path = path
        self.message = message
        self.kind = kind


def _entries(log: Any) -> list[_Entry]:
    return [_Entry(entry.path or None, (entry.message or "").strip(), entry.type) for entry in log]


def _wrappers(content: bool = False) -> set[int]:
    """libxml2's messages that only say that some content failed, not what (with
    ``content``, those that do not even name an element that does not fit)."""
    types = dxml.etree.RelaxNGErrorTypes
    kinds = {types.RELAXNG_ERR_CONTENTVALID, types.RELAXNG_ERR_INTERSEQ}
    return kinds if content else kinds | {types.RELAXNG_ERR_INTEREXTRA}


def _explain(schema: str, document: Any, entries: list[_Entry]) -> list[str]:
    """Readable problems of an invalid ``document``: from the failing element, descend
    into its own validation while that fails too."""
    secrets = dxml.secret_values(document.getroot())
    tree, at = document, document.getpath(document.getroot())
    for _depth in range(MAX_DEPTH):
        focused = _focus(schema, tree, at, entries)
        if focused is None:
            break
        tree, at, entries = focused
    problems = _problems(tree, at, entries)
    if not problems:
        problems = [f"{at}: the definition does not match libvirt's schema ({schema}); libxml2 says no more"]
    return [dxml.scrub(problem, secrets) for problem in problems[:MAX_PROBLEMS]]


def _places(tree: Any, entries: list[_Entry]) -> list[tuple[_Entry, Any]]:
    """Each log entry with the element of ``tree`` it is about (None when unknown); the
    element "Extra element X in interleave" names has no path: it is X at the place of
    the next message."""
    places = []
    for position, entry in enumerate(entries):
        extra = _EXTRA_ELEMENT.match(entry.message)
        if extra and not entry.path:
            anchor = next((_find(tree, later.path) for later in entries[position + 1 :] if later.path), None)
            places.append((entry, _named(anchor, extra.group(1))))
        else:
            places.append((entry, _find(tree, entry.path)))
    return places


def _named(anchor: Any, name: str) -> Any:
    """``anchor`` if it is named ``name``, else its only child or sibling of that name."""
    if anchor is None or _local(anchor) == name:
        return anchor
    for parent in (anchor, anchor.getparent()):
        named = [] if parent is None else [child for child in parent if isinstance(child.tag, str) and _local(child) == name]
        if len(named) == 1:
            return named[0]
    return None


def _culprit(tree: Any, entries: list[_Entry]) -> Any:
    """The element where the validation of ``tree`` failed: of the elements libxml2's
    messages name (not counting those that only say "failed to validate content"), the
    one the validation finished last (an element after its children), the furthest it
    got; libxml2 also logs the failures of branches it left for another (a choice),
    which come earlier."""
    order = _finish_order(tree.getroot())
    places = _places(tree, entries)
    named = [element for entry, element in places if element is not None and entry.kind not in _wrappers(content=True)]
    if named:
        return max(named, key=order.__getitem__)
    return next((element for entry, element in reversed(places) if element is not None), None)


def _finish_order(element: Any, order: dict[Any, int] | None = None) -> dict[Any, int]:
    """Each element of the tree under ``element``, numbered after its children."""
    order = {} if order is None else order
    for child in element:
        if isinstance(child.tag, str):
            _finish_order(child, order)
    order[element] = len(order)
    return order


def _focus(schema: str, tree: Any, at: str, entries: list[_Entry]) -> tuple[Any, str, list[_Entry]] | None:
    """The element where ``tree`` failed, validated on its own against each of its
    patterns at that place: (its tree, its full path, the log of the pattern it got
    furthest with), or None when that cannot be done or tells nothing."""
    culprit = _culprit(tree, entries)
    if culprit is None or culprit is tree.getroot():
        return None
    path = _full_path(at, tree.getpath(culprit))
    steps = tuple(re.sub(r"\[\d+\]$", "", step) for step in path.strip("/").split("/"))
    alone = dxml.etree.ElementTree(copy.deepcopy(culprit))
    order = _finish_order(alone.getroot())
    best: tuple[int, list[_Entry]] | None = None
    for relaxng in _focused_schemas(schema, steps):
        if relaxng.validate(alone):
            return None  # valid alone: only its place is wrong, libxml2 said all it can
        log = _entries(relaxng.error_log)
        reached = order.get(_culprit(alone, log), -1)
        if best is None or reached > best[0]:
            best = (reached, log)
    return (alone, path, best[1]) if best is not None else None


def _problems(tree: Any, at: str, entries: list[_Entry]) -> list[str]:
    """One problem per element path, libxml2's messages for it joined: those about the
    element where the validation failed, specific ones first, else all specific ones."""
    culprit = _culprit(tree, entries)
    places = _places(tree, entries)
    about = [(entry, element) for entry, element in places if element is not None and culprit is not None and _within(element, culprit)]
    specific = [(entry, element) for entry, element in places if entry.kind not in _wrappers()]
    chosen = [place for place in about if place in specific] or about or specific or places
    by_path: dict[str, list[str]] = {}
    for entry, element in chosen:
        path = tree.getpath(element) if element is not None else entry.path
        where = _full_path(at, path) if path else at
        messages = by_path.setdefault(where, [])
        message = _detailed(entry.message, element)
        if message and message not in messages:
            messages.append(message)
    return [f"{path}: {'; '.join(messages)}" for path, messages in by_path.items() if messages]


def _within(element: Any, ancestor: Any) -> bool:
    return element is ancestor or any(parent is ancestor for parent in element.iterancestors())


def _detailed(message: str, element: Any) -> str:
    """libxml2's message with the values it is about, which it does not quote."""
    if element is None:
        return message
    invalid = _INVALID_ATTRIBUTE.match(message)
    if invalid and invalid.group(1) in element.attrib:
        return f"{message} ({_attributes(element, [invalid.group(1)])})"
    if message.endswith("failed to validate attributes") and len(element.attrib):
        return f"{message} ({_attributes(element, list(element.attrib))})"
    if message == "Error validating value" and element.text and element.text.strip() and not len(element):
        return f"{message} {element.text.strip()!r}"
    return message


def _attributes(element: Any, names: list[str]) -> str:
    """``name='value'`` of each attribute named, a secret masked."""
    shown = [(name, dxml.MASK if dxml.is_secret(element.tag, name) else element.get(name)) for name in names if not name.startswith("{")]
    return " ".join(f"{name}={value!r}" for name, value in shown)


def _find(tree: Any, path: str | None) -> Any:
    """The element of ``tree`` at libxml2's ``path`` (None when it is not found)."""
    if not path:
        return None
    prefixes = {prefix: uri for element in tree.iter() if isinstance(element.tag, str) for prefix, uri in element.nsmap.items() if prefix}
    try:
        found = tree.xpath(path, namespaces=prefixes)
    except dxml.etree.XPathError:  # a name libxml2 wrote in a way XPath does not read back
        return None
    return found[0] if found and isinstance(found, list) and dxml.etree.iselement(found[0]) else None


def _full_path(at: str, path: str) -> str:
    """``path`` of a tree made of the element at ``at``, as a path of the whole definition."""
    rest = path.lstrip("/").partition("/")[2]
    return f"{at}/{rest}" if rest else at


def _local(element: Any) -> str:
    return dxml.local_name(str(element.tag))


# -- the grammar at an element -----------------------------------------------------------
def _focused_schemas(schema: str, steps: tuple[str, ...]) -> list[Schema]:
    """A schema for each element pattern domain.rng has at ``steps`` (element names from
    the root), starting there, the rest of domain.rng included."""
    key = (schema, steps)
    if key not in _FOCUSED:
        grammar = _grammar(schema)
        walkable = grammar is not None and not any(":" in step or "*" in step for step in steps)
        compiled = [_compile_focused(schema, pattern) for pattern in (_patterns_at(grammar, steps) if walkable else [])]
        _FOCUSED[key] = [relaxng for relaxng in compiled if relaxng is not None]
    return _FOCUSED[key]


def _grammar(schema: str) -> Grammar:
    """The defines (by name) and the starts of ``schema`` and of the files it includes."""
    if schema not in _GRAMMARS:
        defines: dict[str, list[Any]] = {}
        starts: list[Any] = []
        try:
            walkable = _read_grammar(schema, defines, starts, set())
        except (dxml.etree.LxmlError, OSError):
            walkable = False
        _GRAMMARS[schema] = (defines, starts) if walkable else None
    return _GRAMMARS[schema]


def _read_grammar(path: str, defines: dict[str, list[Any]], starts: list[Any], seen: set[str]) -> bool:
    if path in seen:
        return True
    seen.add(path)
    parser = dxml.etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True)
    grammar = dxml.etree.parse(path, parser).getroot()
    if any(node.tag in _UNFOLLOWED for node in grammar.iterdescendants()):
        return False
    for include in grammar.iter(f"{_RNG}include"):
        if not _read_grammar(os.path.join(os.path.dirname(path), include.get("href", "")), defines, starts, seen):
            return False
    # A define inside an <include> replaces the included one: both are kept, so the
    # patterns found are a superset (an element may then validate alone: no detail).
    for define in grammar.iter(f"{_RNG}define"):
        defines.setdefault(define.get("name"), []).append(define)
    starts.extend(start for start in grammar.iter(f"{_RNG}start") if start.getparent() is grammar)
    return True


def _patterns_at(grammar: Grammar, steps: tuple[str, ...]) -> list[Any]:
    defines, current = grammar[0], grammar[1]
    for step in steps:
        found: list[Any] = []
        for pattern in current:
            found.extend(element for element in _element_patterns(pattern, step, defines, set()) if element not in found)
        current = found
    return current


def _element_patterns(pattern: Any, name: str, defines: dict[str, list[Any]], seen: set[str]) -> Any:
    """The <element name="name"> patterns ``pattern``'s content allows as a child."""
    for node in pattern:
        if not isinstance(node.tag, str) or node.tag in _LEAF_PATTERNS:
            continue
        if node.tag == f"{_RNG}element":
            if node.get("name") == name:
                yield node
        elif node.tag == f"{_RNG}ref":
            if node.get("name") not in seen:
                seen.add(node.get("name"))
                for define in defines.get(node.get("name"), []):
                    yield from _element_patterns(define, name, defines, seen)
        else:
            yield from _element_patterns(node, name, defines, seen)


def _compile_focused(schema: str, pattern: Any) -> Schema | None:
    etree = dxml.etree
    grammar = etree.Element(f"{_RNG}grammar", nsmap={None: RNG_NS})
    start = etree.SubElement(etree.SubElement(grammar, f"{_RNG}include", href=os.path.basename(schema)), f"{_RNG}start")
    start.append(_standalone(pattern))
    try:
        text = etree.tostring(grammar)
        return etree.RelaxNG(etree.fromstring(text, base_url=os.path.join(os.path.dirname(schema), "focused.rng")))
    except (etree.LxmlError, OSError):
        return None


def _standalone(pattern: Any) -> Any:
    """A copy of an element pattern that keeps what it inherited from its file."""
    result = copy.deepcopy(pattern)
    for attribute in ("datatypeLibrary", "ns"):
        inherited = next((node.get(attribute) for node in pattern.iterancestors() if node.get(attribute) is not None), None)
        if result.get(attribute) is None and inherited is not None:
            result.set(attribute, inherited)
    return result
