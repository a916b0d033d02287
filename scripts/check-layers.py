#!/usr/bin/env python3
"""Module layer checks for the operator and its emulator (Python 3.11, stdlib only).

Builds the module import graph of a Rust crate's src directory: one node per .rs file (a
`mod.rs`, `lib.rs` or `main.rs` is its directory's or crate's module), one edge per module a
file refers to. A reference is any path in code or in a string (serde's `with = "crate::..."`)
that starts with `crate::`, `super::` or `self::`, or with a name the file brought into scope
with `use`, or with a child module the file declares (`mod x;` itself is not a reference), or
with the library's name (from a binary). `use a::{b, c::d}` groups are expanded. A path names
the deepest module file that is a prefix of it; an item defined in a `mod.rs` therefore makes
its user depend on that `mod.rs`. `#[cfg(test)]` code counts like any other.

Checks:
  emulator   no import cycle among the emulator's modules (emulator/src), and no module
             imports a layer above its own (EMULATOR_LAYERS: world, vendor routes, control
             API, server; a file in none of them fails the check);
  operator   no file under src/controller/<R> (<R>.rs and <R>/) refers to another reconciler
             module <Other> (crate::controller::<Other>, super::<Other>, ...), for R and Other
             among the five reconcilers; no file under src/domain/ refers to crate::controller,
             and none under src/reconcile/ to crate::controller or crate::domain (the layers
             of docs/architecture.md).

Usage: python3 scripts/check-layers.py [--only emulator|operator] [--emulator-src DIR]
       [--operator-src DIR] [--layers] [--graph]
Exit status 1 when a check fails. Limitations: `#[path]` attributes and macro-generated paths
are not followed.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

RECONCILERS = (
    "integration_account",
    "workato_connection",
    "credential_rotation",
    "trackvia_account",
    "workato_workspace",
)

# The emulator's layers, bottom first: a module may import its own layer and the ones below.
# Files are matched by path under emulator/src (a directory entry covers everything in it).
EMULATOR_LAYERS = (
    ("world", ("bearer.rs", "config.rs", "error.rs", "seed.rs", "world/")),
    ("vendor routes", ("trackvia/", "workato/")),
    ("control API", ("control/",)),
    ("server", ("server.rs", "lib.rs", "main.rs")),
)

IDENT_START = re.compile(r"[A-Za-z_]")
IDENT_CHARS = re.compile(r"[A-Za-z0-9_]*")
STRING_PATH = re.compile(r"(?<![A-Za-z0-9_$])(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")


@dataclass
class Token:
    kind: str  # "ident", "punct", "str"
    text: str
    line: int


def tokenize(source: str) -> list[Token]:
    """Identifiers, punctuation (`::` as one token) and string literals; comments dropped."""
    tokens: list[Token] = []
    i, line, n = 0, 1, len(source)
    while i < n:
        c = source[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif source.startswith("//", i):
            end = source.find("\n", i)
            i = n if end < 0 else end
        elif source.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if source.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif source.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    line += source[i] == "\n"
                    i += 1
        elif (m := re.compile(r'b?r(#*)"').match(source, i)) and (i == 0 or not re.match(r"[A-Za-z0-9_]", source[i - 1])):
            closing = '"' + m.group(1)
            end = source.find(closing, m.end())
            end = n if end < 0 else end
            text = source[m.end():end]
            tokens.append(Token("str", text, line))
            line += text.count("\n")
            i = end + len(closing)
        elif c == '"' or source.startswith('b"', i):
            j = i + (2 if c == "b" else 1)
            start = j
            while j < n and source[j] != '"':
                j += 2 if source[j] == "\\" else 1
            text = source[start:j]
            tokens.append(Token("str", text, line))
            line += text.count("\n")
            i = j + 1
        elif c == "'" or source.startswith("b'", i):
            j = i + (2 if c == "b" else 1)
            if j < n and source[j] == "\\":  # escaped char literal
                j += 2
                while j < n and source[j] != "'":
                    j += 1
                i = j + 1
            elif j + 1 < n and source[j + 1] == "'":  # plain char literal
                i = j + 2
            else:  # lifetime or label
                m = IDENT_CHARS.match(source, j)
                i = m.end() if m else j
        elif source.startswith("r#", i) and i + 2 < n and IDENT_START.match(source[i + 2]):
            m = IDENT_CHARS.match(source, i + 2)
            tokens.append(Token("ident", m.group(0), line))
            i = m.end()
        elif IDENT_START.match(c):
            m = IDENT_CHARS.match(source, i)
            tokens.append(Token("ident", m.group(0), line))
            i = m.end()
        elif c.isdigit():
            m = re.compile(r"[0-9][0-9A-Za-z_]*").match(source, i)
            i = m.end()
        elif source.startswith("::", i):
            tokens.append(Token("punct", "::", line))
            i += 2
        else:
            tokens.append(Token("punct", c, line))
            i += 1
    return tokens


@dataclass
class Module:
    file: Path  # absolute
    rel: str  # relative to src, e.g. "control/mod.rs"
    root: str  # "lib" or the binary root's rel path
    path: tuple[str, ...]  # module path inside its crate, () for the root
    children_dir: Path  # where `mod x;` of this file looks for x.rs / x/mod.rs


@dataclass
class Ref:
    segments: tuple[str, ...]  # absolute module path inside the crate (resolved)
    root: str  # which crate it points into
    line: int
    text: str  # as written


@dataclass
class ParsedFile:
    refs: list[Ref] = field(default_factory=list)
    child_decls: list[tuple[tuple[str, ...], str]] = field(default_factory=list)  # (inline path, name)


def parse_use_tree(toks: list[Token], i: int, prefix: list[str]) -> tuple[list[tuple[list[str], str | None, bool]], int]:
    """Parses one use tree at toks[i]; returns [(segments, alias, is_glob)] and the next index."""
    segs = list(prefix)
    results: list[tuple[list[str], str | None, bool]] = []
    if i < len(toks) and toks[i].text == "::":
        i += 1
    while i < len(toks):
        t = toks[i]
        if t.text == "{":
            i += 1
            while i < len(toks) and toks[i].text != "}":
                sub, i = parse_use_tree(toks, i, segs)
                results += sub
                if i < len(toks) and toks[i].text == ",":
                    i += 1
            return results, i + 1
        if t.text == "*":
            results.append((segs, None, True))
            return results, i + 1
        if t.kind == "ident":
            segs = segs + [t.text]
            i += 1
            if i < len(toks) and toks[i].text == "::":
                i += 1
                continue
            alias = None
            if i + 1 < len(toks) and toks[i].text == "as":
                alias = toks[i + 1].text
                i += 2
            if segs[-1] == "self" and len(segs) > 1:
                segs = segs[:-1]
            results.append((segs, alias, False))
            return results, i
        return results, i + 1  # malformed: skip a token
    return results, i


class Crate:
    def __init__(self, src: Path):
        self.src = src.resolve()
        self.lib_name = self._lib_name()
        self.modules: dict[Path, Module] = {}
        self.parsed: dict[Path, ParsedFile] = {}
        self._tokens: dict[Path, list[Token]] = {}
        self._walk()
        self.by_path: dict[tuple[str, tuple[str, ...]], Module] = {(m.root, m.path): m for m in self.modules.values()}
        for module in self.modules.values():
            self.parsed[module.file] = self._references(module)

    def _lib_name(self) -> str | None:
        manifest = self.src.parent / "Cargo.toml"
        try:
            data = tomllib.loads(manifest.read_text())
        except (OSError, tomllib.TOMLDecodeError):
            return None
        name = data.get("lib", {}).get("name") or data.get("package", {}).get("name")
        return name.replace("-", "_") if name else None

    def tokens(self, file: Path) -> list[Token]:
        if file not in self._tokens:
            self._tokens[file] = tokenize(file.read_text(encoding="utf-8"))
        return self._tokens[file]

    def _walk(self) -> None:
        """Follows `mod x;` from each crate root; files nobody declares get their path's module."""
        roots = []
        if (self.src / "lib.rs").exists():
            roots.append((self.src / "lib.rs", "lib"))
        if (self.src / "main.rs").exists():
            roots.append((self.src / "main.rs", "main.rs"))
        roots += [(p, str(p.relative_to(self.src))) for p in sorted((self.src / "bin").glob("*.rs"))]
        for file, root in roots:
            queue = deque([Module(file, str(file.relative_to(self.src)), root, (), file.parent)])
            while queue:
                module = queue.popleft()
                if module.file in self.modules:
                    continue
                self.modules[module.file] = module
                for inline, name in self._mod_decls(module.file):
                    directory = module.children_dir.joinpath(*inline)
                    for candidate, children in ((directory / f"{name}.rs", directory / name), (directory / name / "mod.rs", directory / name)):
                        if candidate.exists():
                            rel = str(candidate.relative_to(self.src))
                            queue.append(Module(candidate, rel, root, module.path + inline + (name,), children))
                            break
        for file in sorted(self.src.rglob("*.rs")):
            if file in self.modules:
                continue
            rel = file.relative_to(self.src)
            parts = list(rel.with_suffix("").parts)
            if parts[-1] == "mod":
                parts.pop()
            children = file.parent if file.name == "mod.rs" else file.with_suffix("")
            self.modules[file] = Module(file, str(rel), "lib", tuple(parts), children)

    def _mod_decls(self, file: Path) -> list[tuple[tuple[str, ...], str]]:
        decls = []
        for inline, name in self._scan(file, collect_decls=True).child_decls:
            decls.append((inline, name))
        return decls

    def _scan(self, file: Path, collect_decls: bool = False, module: Module | None = None) -> ParsedFile:
        """One pass over a file: `mod x;` declarations, use trees, paths in code and strings."""
        toks = self.tokens(file)
        parsed = ParsedFile()
        depth = 0
        inline: list[tuple[str, int]] = []  # inline modules and the brace depth inside them
        pending_mod: str | None = None
        raw: list[tuple[tuple[str, ...], list[str], int, str]] = []  # (inline path, segments, line, text)
        aliases: dict[str, tuple[tuple[str, ...], list[str]]] = {}
        i = 0
        while i < len(toks):
            t = toks[i]
            here = tuple(name for name, _ in inline)
            if t.kind == "ident" and t.text == "mod" and i + 2 < len(toks) and toks[i + 1].kind == "ident":
                name, after = toks[i + 1].text, toks[i + 2].text
                if after == ";":
                    parsed.child_decls.append((here, name))
                    i += 3
                    continue
                if after == "{":
                    pending_mod = name
                i += 2
                continue
            if t.text == "{":
                depth += 1
                if pending_mod is not None:
                    inline.append((pending_mod, depth))
                    pending_mod = None
            elif t.text == "}":
                if inline and inline[-1][1] == depth:
                    inline.pop()
                depth -= 1
            elif collect_decls:
                pass
            elif t.kind == "str":
                for m in STRING_PATH.finditer(t.text):
                    segments = [m.group(1)] + m.group(2).split("::")[1:]
                    raw.append((here, segments, t.line, m.group(0)))
            elif t.kind == "ident" and t.text == "use":
                j = i + 1
                trees, j = parse_use_tree(toks, j, [])
                for segments, alias, glob in trees:
                    text = "::".join(segments) + ("::*" if glob else "")
                    raw.append((here, segments, t.line, text))
                    if not glob and segments:
                        aliases[alias or segments[-1]] = (here, segments)
                while j < len(toks) and toks[j].text != ";":
                    j += 1
                i = j + 1
                continue
            elif t.kind == "ident" and i + 1 < len(toks) and toks[i + 1].text == "::" and (i == 0 or toks[i - 1].text not in ("::", ".")):
                segments = [t.text]
                j = i + 1
                while j + 1 < len(toks) and toks[j].text == "::" and toks[j + 1].kind == "ident":
                    segments.append(toks[j + 1].text)
                    j += 2
                raw.append((here, segments, t.line, "::".join(segments)))
                i = j
                continue
            i += 1
        if module is not None:
            children = {name for inl, name in parsed.child_decls if not inl}
            for here, segments, line, text in raw:
                resolved = self._resolve(module, here, segments, aliases, children, set())
                if resolved is not None:
                    parsed.refs.append(Ref(resolved[1], resolved[0], line, text))
        return parsed

    def _resolve(self, module, here, segments, aliases, children, seen) -> tuple[str, tuple[str, ...]] | None:
        current = list(module.path) + list(here)
        first, rest = segments[0], list(segments[1:])
        root = module.root
        if first in ("crate", "$crate"):
            base: list[str] = []
        elif first == "super":
            base = current[:-1]
            while rest and rest[0] == "super":
                base, rest = base[:-1], rest[1:]
        elif first == "self":
            base = current
        elif self.lib_name and first == self.lib_name and root != "lib":
            base, root = [], "lib"
        elif first in aliases and first not in seen and aliases[first][1] != [first]:
            alias_here, target = aliases[first]
            resolved = self._resolve(module, alias_here, target, aliases, children, seen | {first})
            if resolved is None:
                return None
            root, base = resolved[0], list(resolved[1])
        elif first in children:
            base = list(module.path) + [first]
        else:
            return None  # another crate, a local name, a type's associated item
        return root, tuple(base + rest)

    def _references(self, module: Module) -> ParsedFile:
        return self._scan(module.file, module=module)

    def target(self, ref: Ref) -> Module | None:
        """The deepest module file that is a prefix of the reference (the crate root at least)."""
        for length in range(len(ref.segments), -1, -1):
            found = self.by_path.get((ref.root, ref.segments[:length]))
            if found is not None:
                return found
        return None

    def graph(self) -> dict[str, dict[str, Ref]]:
        """rel -> {rel of an imported module -> the first reference to it}."""
        edges: dict[str, dict[str, Ref]] = {m.rel: {} for m in self.modules.values()}
        for module in self.modules.values():
            for ref in self.parsed[module.file].refs:
                target = self.target(ref)
                if target is not None and target.file != module.file:
                    edges[module.rel].setdefault(target.rel, ref)
        return edges


def strongly_connected(edges: dict[str, dict[str, Ref]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative); components in reverse topological order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(edges[nxt]))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def shortest_cycle(edges: dict[str, dict[str, Ref]], component: list[str]) -> list[str]:
    """A shortest cycle inside the component, through its best-connected module."""
    members = set(component)
    start = max(component, key=lambda m: (sum(t in members for t in edges[m]) + sum(m in edges[s] for s in members), m))
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(edges[node]):
            if nxt not in members:
                continue
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return list(reversed(path)) + [start]
            if nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    return [start, start]


def layers(edges: dict[str, dict[str, Ref]], components: list[list[str]]) -> list[list[str]]:
    """Layer 0 imports nothing of the crate; layer k imports layers below k only (cycles collapsed)."""
    component_of = {m: n for n, comp in enumerate(components) for m in comp}
    level: dict[int, int] = {}
    for n, comp in enumerate(components):  # reverse topological: dependencies come first
        below = [level[component_of[t]] for m in comp for t in edges[m] if component_of[t] != n]
        level[n] = 1 + max(below) if below else 0
    result: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for n, comp in enumerate(components):
        label = comp[0] if len(comp) == 1 else "{" + ", ".join(comp) + "}"
        result[level[n]].append(label)
    return [sorted(layer) for layer in result]


def check_emulator(src: Path, show_layers: bool, show_graph: bool) -> bool:
    crate = Crate(src)
    edges = crate.graph()
    if show_graph:
        for module, targets in sorted(edges.items()):
            print(f"  {module} -> {' '.join(sorted(targets)) or '(nothing)'}")
    components = strongly_connected(edges)
    cycles = [c for c in components if len(c) > 1 or c[0] in edges[c[0]]]
    count = len(edges)
    where = display(src)
    if not cycles:
        print(f"emulator import cycles ({where}): OK, {count} modules, no cycle")
    else:
        print(f"emulator import cycles ({where}): FAIL, {len(cycles)} cycle(s) among {count} modules")
        for component in cycles:
            cycle = shortest_cycle(edges, component)
            print(f"  {len(component)} modules import each other: {' '.join(component)}")
            print(f"  shortest cycle through {cycle[0]}: {' -> '.join(cycle)}")
            for a, b in zip(cycle, cycle[1:]):
                ref = edges[a][b]
                print(f"    {a}:{ref.line} uses {ref.text}")
    if show_layers:
        for depth, layer in enumerate(layers(edges, components)):
            print(f"  depth {depth}: {' '.join(layer)}")
    return check_layer_order(edges, where) and not cycles


def layer_of(rel: str) -> int | None:
    for index, (_, prefixes) in enumerate(EMULATOR_LAYERS):
        if any(rel == p or (p.endswith("/") and rel.startswith(p)) for p in prefixes):
            return index
    return None


def check_layer_order(edges: dict[str, dict[str, Ref]], where: str) -> bool:
    names = " < ".join(name for name, _ in EMULATOR_LAYERS)
    unassigned = sorted(m for m in edges if layer_of(m) is None)
    upward = []
    for module, targets in sorted(edges.items()):
        for target, ref in sorted(targets.items()):
            low, high = layer_of(module), layer_of(target)
            if low is not None and high is not None and high > low:
                upward.append(
                    f"  {module}:{ref.line} ({EMULATOR_LAYERS[low][0]}) uses {ref.text} ({EMULATOR_LAYERS[high][0]})"
                )
    if not unassigned and not upward:
        print(f"emulator layer order ({where}): OK, {names}")
        return True
    print(f"emulator layer order ({where}): FAIL, {len(upward)} import(s) of a higher layer, {len(unassigned)} module(s) in no layer ({names})")
    for module in unassigned:
        print(f"  {module}: in no layer of EMULATOR_LAYERS")
    for line in upward:
        print(line)
    return False


def display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def check_operator(src: Path) -> tuple[bool, bool]:
    crate = Crate(src)
    isolation: dict[tuple[str, str], list[int]] = {}  # (file, other reconciler) -> lines
    domain: dict[str, list[int]] = {}  # file -> lines
    domain_dir = src.resolve() / "domain"
    # Layers below the reconcilers: each may not refer to the layers listed (above it).
    below = {"domain": ("controller",), "reconcile": ("controller", "domain")}
    for module in sorted(crate.modules.values(), key=lambda m: m.rel):
        rel = Path(module.rel)
        owner = None
        if len(rel.parts) >= 2 and rel.parts[0] == "controller":
            name = rel.parts[1].removesuffix(".rs") if len(rel.parts) == 2 else rel.parts[1]
            owner = name if name in RECONCILERS else None
        in_domain = module.file.is_relative_to(domain_dir)
        for ref in crate.parsed[module.file].refs:
            if ref.root != "lib" and ref.root != module.root:
                continue
            seg = ref.segments
            if owner and len(seg) >= 2 and seg[0] == "controller" and seg[1] in RECONCILERS and seg[1] != owner:
                isolation.setdefault((module.rel, seg[1]), []).append(ref.line)
            layer = rel.parts[0].removesuffix(".rs")
            if (in_domain or layer in below) and seg[:1] and seg[0] in below.get(layer, ("controller",)):
                domain.setdefault(f"{module.rel} -> {seg[0]}", []).append(ref.line)
    where = display(src)
    if isolation:
        files = len({f for f, _ in isolation})
        print(f"operator reconciler isolation ({where}/controller): FAIL, {files} file(s) refer to another reconciler")
        for (file, other), lines in sorted(isolation.items()):
            print(f"  {file} -> {other} (line {', '.join(map(str, sorted(set(lines))))})")
    else:
        print(f"operator reconciler isolation ({where}/controller): OK, no reconciler refers to another")
    if not domain_dir.is_dir():
        print(f"operator domain independence ({where}/domain): OK, no src/domain yet")
    elif domain:
        print(f"operator layers below the reconcilers ({where}): FAIL, {len(domain)} reference(s) up")
        for file, lines in sorted(domain.items()):
            print(f"  {file} (line {', '.join(map(str, sorted(set(lines))))})")
    else:
        print(f"operator layers below the reconcilers ({where}): OK, domain does not refer to controller, reconcile to neither")
    return not isolation, not domain


def main() -> int:
    repo = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("emulator", "operator"), help="run one group of checks")
    parser.add_argument("--emulator-src", type=Path, default=repo / "emulator" / "src")
    parser.add_argument("--operator-src", type=Path, default=repo / "src")
    parser.add_argument("--layers", action="store_true", help="also print the emulator's module layers")
    parser.add_argument("--graph", action="store_true", help="also print the emulator's import graph")
    args = parser.parse_args()
    ok = True
    if args.only in (None, "emulator"):
        ok &= check_emulator(args.emulator_src, args.layers, args.graph)
    if args.only in (None, "operator"):
        ok &= all(check_operator(args.operator_src))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
