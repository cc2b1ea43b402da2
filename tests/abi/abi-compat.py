#!/usr/bin/env python3
"""ABI check: the built libmq against every release's recorded ABI.

A release's ABI is two files in tests/abi, written by scripts/abi-baseline.sh:
  libmq-<release>.abi        abidw XML of libmq.so (functions, their types,
                             symbol versions), compared with abidiff
                             (abigail-tools);
  libmq-<release>.constants  every enumerator of mq.h's enums (error codes,
                             option numbers, event kinds, reason codes,
                             property ids...) and the MQ_SUB_* flags, with
                             its value: numbers that programs compile in,
                             which DWARF does not carry since the API passes
                             them as int.

Rules:
- an incompatible change against any release fails (a removed or changed
  function, a changed type, a removed symbol version, a constant removed or
  renumbered): soname 0 keeps working for programs built against every 0.x;
- additions (functions, a version node in libmq.map, constants) are fine
  against older releases; against the baseline of the version being built
  they fail, since a released ABI does not grow: bump the version first (new
  API belongs to the next release) and record that release's baseline with
  scripts/abi-baseline.sh when it is made.

Usage:
  abi-compat.py check <libmq.so> <srcroot> <version>   (meson test abi-compat)
  abi-compat.py constants <include-dir>                (print the constants)
Exit status of check: 0 compatible, 1 incompatible or error, 77 skipped
(abidiff missing: Debian package abigail-tools).
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

# abidiff exit status bits (abidiff(1))
ABIDIFF_ERROR = 1
ABIDIFF_USAGE_ERROR = 2
ABIDIFF_ABI_CHANGE = 4
ABIDIFF_ABI_INCOMPATIBLE_CHANGE = 8

SKIP = 77


def compiler():
    for cc in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cc and shutil.which(cc.split()[0]):
            return cc.split()
    raise SystemExit("abi-compat: no C compiler found")


def constants(include_dir):
    """{name: (enum typedef or 'define', value)} for mq.h's constants."""
    cc = compiler()
    hdr = os.path.join(include_dir, "mq.h")
    pre = subprocess.run(cc + ["-E", "-P", "-I", include_dir, hdr],
                         check=True, capture_output=True, text=True).stdout
    names = []
    for m in re.finditer(r"typedef\s+enum\s*\w*\s*\{(.*?)\}\s*(\w+)\s*;",
                         pre, re.S):
        for item in m.group(1).split(","):
            n = re.match(r"\s*(MQ_\w+)", item)
            if n:
                names.append((m.group(2), n.group(1)))
    with open(hdr, encoding="utf-8") as f:
        for line in f:
            d = re.match(r"#define\s+(MQ_SUB_\w+)\s", line)
            if d:
                names.append(("define", d.group(1)))
    if not names:
        raise SystemExit("abi-compat: no enumerators found in " + hdr)
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "c.c")
        exe = os.path.join(tmp, "c")
        with open(src, "w", encoding="utf-8") as f:
            f.write("#include <mq.h>\n#include <stdio.h>\nint main(void)\n{\n")
            for kind, name in names:
                f.write('    printf("%%s %%s %%lld\\n", "%s", "%s", '
                        "(long long)(%s));\n" % (kind, name, name))
            f.write("    return 0;\n}\n")
        subprocess.run(cc + ["-I", include_dir, "-o", exe, src], check=True)
        out = subprocess.run([exe], check=True, capture_output=True,
                             text=True).stdout
    table = {}
    for line in out.splitlines():
        kind, name, value = line.split()
        table[name] = (kind, int(value))
    return table


def format_constants(table):
    return "".join("%s %s %d\n" % (kind, name, value)
                   for name, (kind, value) in sorted(table.items()))


def parse_constants(path):
    table = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                kind, name, value = line.split()
                table[name] = (kind, int(value))
    return table


def compare_constants(base, cur):
    """(incompatible lines, added names)"""
    bad = []
    for name, (kind, value) in sorted(base.items()):
        if name not in cur:
            bad.append("  removed: %s (%s = %d)" % (name, kind, value))
        elif cur[name] != (kind, value):
            bad.append("  changed: %s %s = %d, now %s = %d"
                       % (name, kind, value, cur[name][0], cur[name][1]))
    added = sorted(set(cur) - set(base))
    return bad, added


def check(so, root, version):
    if not shutil.which("abidiff"):
        print("SKIP: abidiff not found (Debian package abigail-tools)")
        return SKIP
    sections = subprocess.run(["readelf", "-S", so], capture_output=True,
                              text=True).stdout
    if ".debug_info" not in sections:
        print("note: %s has no debug information: abidiff compares symbols "
              "only, not types (build with -g, e.g. buildtype "
              "debugoptimized)" % so)
    include = os.path.join(root, "libmq", "include")
    cur_consts = constants(include)
    bases = sorted(glob.glob(os.path.join(root, "tests", "abi", "libmq-*.abi")))
    if not bases:
        print("FAIL: no baseline in tests/abi (run scripts/abi-baseline.sh)")
        return 1
    fail = False
    for base in bases:
        rel = os.path.basename(base)[len("libmq-"):-len(".abi")]
        p = subprocess.run(["abidiff", "--headers-dir2", include, base, so],
                           capture_output=True, text=True)
        report = (p.stdout + p.stderr).strip()
        rc = p.returncode
        cfile = base[:-len(".abi")] + ".constants"
        if os.path.exists(cfile):
            bad, added = compare_constants(parse_constants(cfile), cur_consts)
        else:
            bad, added = ["  %s is missing" % os.path.basename(cfile)], []
        if rc & (ABIDIFF_ERROR | ABIDIFF_USAGE_ERROR):
            print("FAIL: abidiff could not compare with %s (exit %d):\n%s"
                  % (rel, rc, report))
            fail = True
            continue
        if rc & ABIDIFF_ABI_INCOMPATIBLE_CHANGE or bad:
            print("FAIL: incompatible ABI change since %s:" % rel)
            if rc & ABIDIFF_ABI_INCOMPATIBLE_CHANGE:
                print(report)
            if bad:
                print(" constants of mq.h:\n" + "\n".join(bad))
            fail = True
            continue
        grew = rc & ABIDIFF_ABI_CHANGE or added
        detail = []
        if rc & ABIDIFF_ABI_CHANGE:
            detail.append(report)
        if added:
            detail.append("%d new constants: %s" % (len(added), " ".join(added)))
        if grew and rel == version:
            print("FAIL: the ABI of %s, the version being built, has grown "
                  "since its baseline. A released ABI does not grow: bump the "
                  "version (meson.build, see NEWS) so the new API belongs to "
                  "the next release; if %s is not released yet, record its "
                  "baseline again: scripts/abi-baseline.sh" % (rel, rel))
            print("\n".join(detail))
            fail = True
        elif grew:
            print("ok: compatible with %s (additions):" % rel)
            for d in detail:
                print("    " + d.replace("\n", "\n    "))
        else:
            print("ok: same ABI as %s" % rel)
    return 1 if fail else 0


def main(argv):
    if len(argv) == 5 and argv[1] == "check":
        return check(argv[2], argv[3], argv[4])
    if len(argv) == 3 and argv[1] == "constants":
        sys.stdout.write(format_constants(constants(argv[2])))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
