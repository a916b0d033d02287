#!/usr/bin/env python3
"""Writes charts/trackvia-operator/README.md from the comments of its values.yaml.

Like helm-docs: a `# -- text` comment describes the key right under it (`# more` lines directly
after it continue the text); the key's default comes from values.yaml. A key documented this way
is one row of the table, whatever lies below it (a map documented as a whole, such as
`strategy`, is one row with the map as its default). Every value must be documented, by itself or
by a documented parent: an undocumented key fails the run, so a new value cannot slip in without
a description.

The README is README.tmpl.md with `{{VALUES_TABLE}}` replaced by the table.

    python3 scripts/chart-readme.py           # (re)write README.md
    python3 scripts/chart-readme.py --check   # exit 1 when README.md is not what values.yaml gives
    python3 scripts/chart-readme.py --json    # the parsed values as JSON (tests compare it to a YAML parser's)

Standard library only: values.yaml is read with a small parser of the YAML subset the file uses
(block maps and lists, flow lists and maps, plain and quoted scalars); anything else is an error,
never a silent guess.
"""

import json
import re
import sys
from pathlib import Path

CHART = Path(__file__).resolve().parent.parent / "charts" / "trackvia-operator"
MARKER = "{{VALUES_TABLE}}"


class ParseError(Exception):
    pass


# --- a small YAML-subset parser ------------------------------------------------------------------


def strip_comment(text):
    """The line without its comment (a `#` after whitespace, outside quotes)."""
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].rstrip()
    return text.rstrip()


def scalar(text, lineno):
    text = text.strip()
    if text.startswith("[") or text.startswith("{"):
        value, rest = flow(text, 0, lineno)
        if text[rest:].strip():
            raise ParseError(f"line {lineno}: unexpected {text[rest:]!r}")
        return value
    if text.startswith('"'):
        if not text.endswith('"') or len(text) < 2:
            raise ParseError(f"line {lineno}: unterminated string")
        return json.loads(text)
    if text.startswith("'"):
        if not text.endswith("'") or len(text) < 2:
            raise ParseError(f"line {lineno}: unterminated string")
        return text[1:-1].replace("''", "'")
    if text in ("null", "~", ""):
        return None
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"[-+]?[0-9]+", text):
        return int(text)
    if re.fullmatch(r"[-+]?[0-9]*\.[0-9]+", text):
        return float(text)
    if text[0] in "&*!|>%@`":
        raise ParseError(f"line {lineno}: YAML feature not supported here: {text!r}")
    return text


def flow(text, i, lineno):
    """A flow list or map starting at text[i]; returns (value, index after it)."""
    def skip(j):
        while j < len(text) and text[j] == " ":
            j += 1
        return j

    def item(j, stops):
        j = skip(j)
        if text[j] in "[{":
            return flow(text, j, lineno)
        if text[j] in "\"'":
            end = text.index(text[j], j + 1)
            return scalar(text[j : end + 1], lineno), end + 1
        k = j
        while k < len(text) and text[k] not in stops:
            k += 1
        return scalar(text[j:k], lineno), k

    opening = text[i]
    closing = "]" if opening == "[" else "}"
    out = [] if opening == "[" else {}
    i = skip(i + 1)
    if text[i] == closing:
        return out, i + 1
    while True:
        if opening == "[":
            value, i = item(i, ",]")
            out.append(value)
        else:
            key, i = item(i, ":")
            i = skip(i)
            if text[i] != ":":
                raise ParseError(f"line {lineno}: expected ':' in {text!r}")
            value, i = item(i + 1, ",}")
            out[str(key)] = value
        i = skip(i)
        if text[i] == closing:
            return out, i + 1
        if text[i] != ",":
            raise ParseError(f"line {lineno}: expected ',' or {closing!r} in {text!r}")
        i += 1


KEY = re.compile(r"^([A-Za-z0-9_.\-/]+|\"[^\"]+\"):(?:\s+(.*))?$")


def parse(lines):
    """lines: [(indent, text, lineno)] without comments or blank lines -> the value."""
    value, i = block(lines, 0, lines[0][0] if lines else 0)
    if i != len(lines):
        raise ParseError(f"line {lines[i][2]}: unexpected indentation")
    return value


def block(lines, i, indent):
    if lines[i][1].startswith("- ") or lines[i][1] == "-":
        return sequence(lines, i, indent)
    return mapping(lines, i, indent)


def mapping(lines, i, indent):
    out = {}
    while i < len(lines) and lines[i][0] == indent and not lines[i][1].startswith("-"):
        _, text, lineno = lines[i]
        m = KEY.match(text)
        if not m:
            raise ParseError(f"line {lineno}: not a 'key: value' line: {text!r}")
        key = m.group(1).strip('"')
        if key in out:
            raise ParseError(f"line {lineno}: duplicate key {key}")
        i += 1
        if m.group(2) is not None and m.group(2) != "":
            out[key] = scalar(m.group(2), lineno)
        elif i < len(lines) and (
            lines[i][0] > indent or (lines[i][0] == indent and lines[i][1].startswith("-"))
        ):
            out[key], i = block(lines, i, lines[i][0])
        else:
            out[key] = None
    return out, i


def sequence(lines, i, indent):
    out = []
    while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("-"):
        _, text, lineno = lines[i]
        rest = text[1:].strip()
        if not rest:
            raise ParseError(f"line {lineno}: an empty list item is not supported here")
        if KEY.match(rest) and not rest.startswith(("[", "{", '"', "'")):
            # A map in the list: its first key on the dash's line, the others below.
            inner = indent + (len(text) - len(text[1:].lstrip()))
            sub = [(inner, rest, lineno)]
            i += 1
            while i < len(lines) and lines[i][0] >= inner:
                sub.append(lines[i])
                i += 1
            value, j = mapping(sub, 0, inner)
            if j != len(sub):
                raise ParseError(f"line {sub[j][2]}: unexpected indentation")
            out.append(value)
        else:
            out.append(scalar(rest, lineno))
            i += 1
    return out, i


# --- documentation comments --------------------------------------------------------------------


def read(path):
    """The values and the documented keys: ({...}, [(dotted key, description)])."""
    raw = path.read_text().splitlines()
    content = []
    docs = []
    stack = []  # (indent, key) of the maps we are in
    pending = None  # the description being read
    for lineno, line in enumerate(raw, 1):
        if "\t" in line[: len(line) - len(line.lstrip())]:
            raise ParseError(f"line {lineno}: tab in indentation")
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if stripped.startswith("#"):
            body = stripped[1:]
            if body.startswith(" -- ") or body == " --":
                pending = [body[4:].strip()]
            elif pending is not None:
                pending.append(body.strip())
            continue
        if not stripped:
            pending = None
            continue
        text = strip_comment(line).strip()
        content.append((indent, text, lineno))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        m = KEY.match(text)
        if m and not text.startswith("-") and not any(k == "[]" for _, k in stack):
            key = ".".join([k for _, k in stack] + [m.group(1).strip('"')])
            if pending is not None:
                docs.append((key, " ".join(p for p in pending if p), lineno))
            stack.append((indent, m.group(1).strip('"')))
        elif text.startswith("-"):
            # Inside a list: nothing below is a documented key of its own.
            stack.append((indent, "[]"))
        pending = None
    return parse(content), docs


def lookup(values, key):
    cur = values
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise ParseError(f"documented key {key} is not in values.yaml")
        cur = cur[part]
    return cur


def undocumented(values, documented, prefix=""):
    """Leaf keys (and empty maps/lists) without a description of their own or of a parent."""
    missing = []
    for key, value in values.items():
        full = f"{prefix}{key}"
        if full in documented:
            continue
        if isinstance(value, dict) and value:
            missing += undocumented(value, documented, full + ".")
        else:
            missing.append(full)
    return missing


def type_name(value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "null"


def cell(text):
    return text.replace("|", "\\|")


def table(values, docs):
    rows = [
        "| Key | Type | Default | Description |",
        "|-----|------|---------|-------------|",
    ]
    for key, description, lineno in docs:
        if not description:
            raise ParseError(f"line {lineno}: empty description of {key}")
        value = lookup(values, key)
        default = json.dumps(value, ensure_ascii=False)
        rows.append(f"| `{key}` | {type_name(value)} | `{cell(default)}` | {cell(description)} |")
    return "\n".join(rows)


def render():
    values, docs = read(CHART / "values.yaml")
    missing = undocumented(values, {k for k, _, _ in docs})
    if missing:
        raise ParseError(
            "values without a `# -- ` description in values.yaml: " + ", ".join(missing)
        )
    template = (CHART / "README.tmpl.md").read_text()
    if template.count(MARKER) != 1:
        raise ParseError(f"README.tmpl.md must hold {MARKER} once")
    header = (
        "<!-- Generated by scripts/chart-readme.py from README.tmpl.md and values.yaml: "
        "edit those, then run the script. -->\n"
    )
    return values, header + template.replace(MARKER, table(values, docs))


def main(argv):
    try:
        if "--json" in argv:
            values, _ = read(CHART / "values.yaml")
            print(json.dumps(values, indent=2, sort_keys=True))
            return 0
        _, readme = render()
    except (ParseError, OSError) as e:
        print(f"chart-readme: {e}", file=sys.stderr)
        return 2
    target = CHART / "README.md"
    if "--check" in argv:
        current = target.read_text() if target.exists() else ""
        if current != readme:
            print(
                f"chart-readme: {target} is out of date with values.yaml; "
                "run `python3 scripts/chart-readme.py`",
                file=sys.stderr,
            )
            return 1
        return 0
    target.write_text(readme)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
