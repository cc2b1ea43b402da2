#!/usr/bin/env python3
"""Generate docs/api/*.md, one page per section of libmq/include/mq.h.

The header is the contract: each declaration's doc comment becomes its entry,
so the reference cannot drift from the code. Run from the repository root:
    python3 scripts/gen-api-docs.py          # rewrite docs/api/
    python3 scripts/gen-api-docs.py --check  # exit 1 if docs/api/ is stale
"""
import os
import re
import sys

HDR = "libmq/include/mq.h"
OUT = "docs/api"

def sections(text):
    parts = re.split(r"/\* ---- (\d+)\. ([^-]+?) -+ \*/", text)
    # parts: [pre, num, title, body, num, title, body, ...]
    for i in range(1, len(parts), 3):
        yield int(parts[i]), parts[i + 1].strip(), parts[i + 2]

def clean_comment(c):
    c = re.sub(r"^/\*\*?", "", c.strip())
    c = re.sub(r"\*/$", "", c)
    lines = [re.sub(r"^\s*\* ?", "", l) for l in c.splitlines()]
    return "\n".join(lines).strip()

def entries(body):
    # A doc comment followed by one or more declarations, or a bare block.
    # A comment on the same line after a declaration ("int f(void);  /* x */")
    # belongs to that declaration, not to the next one.
    tokens = re.split(r"(/\*.*?\*/)", body, flags=re.S)
    pending = None
    out = []
    prev = ""
    for t in tokens:
        if t.startswith("/*"):
            if out and re.search(r";[ \t]*\Z", prev):
                name, d, doc = out[-1]
                trail = clean_comment(t)
                out[-1] = (name, d, doc + "\n\n" + trail if doc else trail)
            else:
                pending = clean_comment(t)
            prev = t
            continue
        prev = t
        decls = [d.strip() for d in re.split(r";\s*\n", t) if d.strip()]
        for d in decls:
            d = re.sub(r"\s+", " ", d.replace("MQ_API ", "")).strip()
            if d.startswith("#define") or d.startswith("#if") or d.startswith("#endif"):
                continue
            if not d.endswith(";") and not d.endswith("}"):
                d += ";"
            name = None
            m = re.search(r"\b(mq_[a-z0-9_]+)\s*\(", d)
            if m and not d.startswith("typedef"):
                name = m.group(1)
            out.append((name, d, pending))
            pending = None
    return out

def slug(title):
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")

def render(num, title, body):
    lines = [f"# {title}", "",
             f"Generated from section {num} of `libmq/include/mq.h` by "
             "`scripts/gen-api-docs.py`; the header is the contract.", ""]
    macros = re.findall(r"^#define (MQ_[A-Z0-9_]+)\s+(.*)$", body, flags=re.M)
    for name, d, doc in entries(body):
        if name:
            lines += [f"## {name}", "", "```c", d, "```", ""]
        else:
            lines += ["```c", d if len(d) < 4000 else d[:4000] + " ...", "```", ""]
        if doc:
            lines += [doc, ""]
    if macros:
        lines += ["## Macros", ""]
        for n, v in macros:
            lines.append(f"- `{n}` = `{v.strip()}`")
        lines.append("")
    return "\n".join(lines)

def main():
    text = open(HDR).read()
    pages = {}
    index = ["# API reference", "",
             "One page per section of `mq.h`. Threading rules, errors and "
             "ownership are stated on every function.", ""]
    for num, title, body in sections(text):
        fname = f"{num:02d}-{slug(title)}.md"
        pages[fname] = render(num, title, body)
        index.append(f"- [{title}]({fname})")
    pages["README.md"] = "\n".join(index) + "\n"
    if "--check" in sys.argv:
        stale = [f for f, t in pages.items()
                 if not os.path.exists(os.path.join(OUT, f))
                 or open(os.path.join(OUT, f)).read() != t]
        if stale:
            print("docs/api is stale:", ", ".join(stale))
            sys.exit(1)
        return
    os.makedirs(OUT, exist_ok=True)
    for f, t in pages.items():
        with open(os.path.join(OUT, f), "w") as fh:
            fh.write(t)

main()
