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
OPTS = "libmq/src/options.c"
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

def option_enums(text):
    """MQ_OPT_*/MQ_SOPT_* enumerators of mq.h: name -> (number, comment)."""
    out = {}
    for m in re.finditer(r"typedef enum \{(.*?)\} mq_(?:option|str_option|soption)\w*;",
                         text, flags=re.S):
        body = m.group(1)
        # an enumerator, then its trailing comment (possibly several lines)
        for e in re.finditer(r"(MQ_S?OPT_[A-Z0-9_]+)\s*=\s*(\d+),?[ \t]*"
                             r"(/\*.*?\*/)?", body, flags=re.S):
            doc = clean_comment(e.group(3)) if e.group(3) else ""
            out[e.group(1)] = (int(e.group(2)), " ".join(doc.split()))
    return out

WHEN = {"ANY": "any time", "IDLE": "not while connected", "READ": "read-only"}
FLAGS = {"V5": "MQTT 5 (other values)", "TLS": "TLS build",
         "WAKE": "applied at once", "MQI_OF_FILE": "readable file",
         "MQI_OF_DIR": "readable directory", "MQI_OF_BYTES": "any bytes",
         "MQI_OF_SECRET": "zeroed when freed"}

def option_rows():
    """The rows of the option table in libmq/src/options.c."""
    rows = []
    src = open(OPTS).read()
    for m in re.finditer(r"^\s*(S?ROW)\((.*)\),\s*$", src, flags=re.M):
        f = [x.strip() for x in m.group(2).split(",")]
        if m.group(1) == "ROW":
            name, typ, when, flags, store, off, lo, hi, dflt = f[:9]
        else:
            name, when, flags, store, off = f[:5]
            typ, lo, hi, dflt = "STR", "", "", ""
        rows.append(dict(name=name, type=typ, when=when, flags=flags,
                         store=store, lo=lo, hi=hi, default=dflt))
    return rows

def options_page(text):
    enums = option_enums(text)
    rows = option_rows()
    names = [r["name"] for r in rows]
    missing = sorted(set(enums) - set(names))
    extra = sorted(set(names) - set(enums))
    dups = sorted({n for n in names if names.count(n) > 1})
    if missing or extra or dups:
        sys.exit("option table (%s) and mq.h disagree: not in the table %s, "
                 "not in mq.h %s, twice %s" % (OPTS, missing, extra, dups))
    def num(v):
        v = v.replace("ANYINT", "2^63-1").replace("UINT32_MAX", "2^32-1")
        v = v.replace("INT32_MAX", "2^31-1").replace("DEFAULT_MAX_PACKET",
                                                      "268435460")
        v = v.replace("64 << 20", "64 MiB").replace("32 << 20", "32 MiB")
        return v.replace("MQ_LOG_", "").replace("MQ_PROTO_V5", "5")
    lines = ["# Options at a glance", "",
             "Generated from the option table in `libmq/src/options.c` "
             "(and the comments of section 8 of `libmq/include/mq.h`) by "
             "`scripts/gen-api-docs.py`. `mq_set_int`, `mq_get_int` and "
             "`mq_set_str` follow this table; option numbers are never "
             "reused. \"Not while connected\": between `mq_connect()` and "
             "the end of that connection the setter returns "
             "`MQ_ERR_STATE`; the value applies at the next connect.", "",
             "| option | # | type | range | default | set | needs | notes |",
             "|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: enums[r["name"]][0]):
        n, doc = enums[r["name"]]
        flags = [FLAGS[f.strip()] for f in r["flags"].split("|")
                 if f.strip() in FLAGS]
        rng = "%s..%s" % (num(r["lo"]), num(r["hi"])) if r["type"] == "INT" else ""
        typ = "int" if r["type"] == "INT" else "string"
        lines.append("| `%s` | %d | %s | %s | %s | %s | %s | %s |" % (
            r["name"], n, typ, rng, num(r["default"]), WHEN[r["when"]],
            ", ".join(flags), doc.replace("|", "\\|")))
    return "\n".join(lines) + "\n"

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
    pages["options.md"] = options_page(text)
    index.append("- [Options at a glance](options.md) (from the option table)")
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
