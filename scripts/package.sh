#!/bin/sh
# package.sh [-o OUTDIR] [deb|python|npm|rock|go|all]... - build libmq's
# release artifacts from the working tree (tracked and new files, so
# uncommitted edits are included) into OUTDIR (default build-pkg/):
#
#   deb     OUTDIR/debian/: the Debian source package and every binary
#           package of debian/control (dpkg-buildpackage, lintian report in
#           lintian.txt). DEB_BUILD_OPTIONS defaults to "nocheck parallel=N"
#           (the test suite runs in scripts/test.sh); set it to run the
#           package's tests too.
#   python  OUTDIR/python/: sdist and wheel of the Python package (meson-python
#           with Debian's python3, libmq compiled into the extension).
#   npm     OUTDIR/npm/: libmq-X.Y.Z.tgz (npm pack of bindings/node, with the
#           SWIG output; the addon is built when the package is installed,
#           for the Node that installs it: binding.gyp, build-addon.js).
#   rock    OUTDIR/rock/: libmq-X.Y.Z-1.src.rock (the rockspec with its
#           sources and the SWIG output; built against the installed libmq,
#           found by pkg-config, when installed: luarocks install).
#   go      OUTDIR/goproxy/: the Go module laid out as a module proxy serves
#           it (GOPROXY=file://OUTDIR/goproxy go get MODULE@vX.Y.Z, offline);
#           published, the module is the repository at tag bindings/go/vX.Y.Z.
#   all     all of the above (the default).
#
# Needs the packages of scripts/deps.sh.
# Threading/concurrency: one run per OUTDIR at a time.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
out=$top/build-pkg
while getopts o: opt; do
    case $opt in
        o) out=$(mkdir -p "$OPTARG" && cd "$OPTARG" && pwd) ;;
        *) echo "usage: package.sh [-o OUTDIR] [deb|python|npm|rock|go|all]..." >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] && set -- all
version=$(scripts/version.sh)
jobs=$(nproc 2>/dev/null || echo 2)
mkdir -p "$out"

# copy_tree DIR: the working tree's files (tracked + untracked, not ignored)
copy_tree() {
    rm -rf "$1"
    mkdir -p "$1"
    git ls-files -z --cached --others --exclude-standard |
        (cd "$top" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
        tar --null -T - -cf - | tar -xf - -C "$1"
}

build_deb() {
    d=$out/debian
    rm -rf "$d"
    mkdir -p "$d"
    src=$d/libmq-$version
    copy_tree "$src"
    # the upstream tarball: the same tree without debian/
    tar -C "$d" --exclude="libmq-$version/debian" --sort=name --owner=0 \
        --group=0 --numeric-owner --mtime=@0 -cJf \
        "$d/libmq_$version.orig.tar.xz" "libmq-$version"
    echo "package.sh: dpkg-buildpackage in $src (log: $d/build.log)"
    if ! (cd "$src" &&
        DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-"nocheck parallel=$jobs"} \
        dpkg-buildpackage -us -uc >"$d/build.log" 2>&1); then
        tail -40 "$d/build.log" >&2
        echo "package.sh: dpkg-buildpackage failed (see $d/build.log)" >&2
        return 1
    fi
    rm -rf "$src"
    if command -v lintian >/dev/null; then
        lintian --info --pedantic \
            "$d/libmq_$version-"*"_$(dpkg --print-architecture).changes" \
            >"$d/lintian.txt" 2>&1 || true
        echo "package.sh: lintian: $(grep -c '^[EWIP]:' "$d/lintian.txt") tags (lintian.txt)"
    fi
    ls "$d"/*.deb
}

build_python() {
    d=$out/python
    rm -rf "$d"
    mkdir -p "$d"
    copy_tree "$d/src"
    # meson-python with Debian's interpreter (python3-mesonpy); the sdist is
    # made from the copied tree as a git repository (meson dist needs one).
    (cd "$d/src" && git init -q && git add -A &&
        git -c user.name=package.sh -c user.email=package@libmq.invalid \
            commit -qm "libmq $version" &&
        /usr/bin/python3 -c 'import mesonpy, sys; print(mesonpy.build_sdist(sys.argv[1])); print(mesonpy.build_wheel(sys.argv[1]))' "$d") \
        >"$d/build.log" 2>&1 ||
        { tail -30 "$d/build.log" >&2; echo "package.sh: python build failed" >&2; return 1; }
    rm -rf "$d/src"
    ls "$d"/*.tar.gz "$d"/*.whl
}

build_npm() {
    d=$out/npm
    rm -rf "$d"
    mkdir -p "$d"
    (cd bindings/node && npm pack --pack-destination "$d" >"$d/pack.log" 2>&1) ||
        { cat "$d/pack.log" >&2; return 1; }
    ls "$d"/*.tgz
}

build_rock() {
    # A source rock: the rockspec and the sources it builds (the Lua layer,
    # the SWIG interface and its output, mq.h, the version script), in the
    # layout luarocks makes for a git source, so it installs offline and
    # without swig: luarocks --lua-version=5.4 install libmq-X.Y.Z-1.src.rock
    d=$out/rock
    rs=libmq-$version-1.rockspec
    [ -f "bindings/lua/$rs" ] || { echo "package.sh: bindings/lua/$rs missing" >&2; return 1; }
    rm -rf "$d"
    mkdir -p "$d/z/libmq"
    for f in bindings/mq.i bindings/lua/mq.lua bindings/lua/build-rock.sh \
        "bindings/lua/$rs" libmq/include/mq.h scripts/version.sh README.md \
        NEWS.md debian/copyright; do
        mkdir -p "$d/z/libmq/$(dirname "$f")"
        cp "$f" "$d/z/libmq/$f"
    done
    swig -lua -module mq_core -Ilibmq/include \
        -o "$d/z/libmq/bindings/lua/mq_lua_wrap.c" bindings/mq.i
    cp "bindings/lua/$rs" "$d/z/$rs"
    (cd "$d/z" && zip -qr "../libmq-$version-1.src.rock" "$rs" libmq)
    rm -rf "$d/z"
    ls "$d"/*.rock
}

build_go() {
    # The Go module as a module proxy serves it (GOPROXY=file://OUTDIR/goproxy):
    # list, .info, .mod and the module zip of version vX.Y.Z, from
    # bindings/go (go.mod, the Go sources with the committed SWIG output,
    # examples). `go get module@vX.Y.Z` works offline against it; once the
    # repository is published, proxy.golang.org serves the same from the tag
    # bindings/go/vX.Y.Z.
    d=$out/goproxy
    rm -rf "$d"
    mod=$(sed -n 's/^module //p' bindings/go/go.mod)
    /usr/bin/python3 - "$d" "$mod" "v$version" bindings/go <<'PY'
import json, os, subprocess, sys, time, zipfile
out, mod, ver, src = sys.argv[1:5]
d = os.path.join(out, mod, "@v")
os.makedirs(d)
# the module's files: tracked (and new, not ignored) files under bindings/go,
# without the build glue that only the libmq tree uses
files = subprocess.run(["git", "ls-files", "--cached", "--others",
                        "--exclude-standard", src], check=True,
                       capture_output=True, text=True).stdout.split()
skip = {"meson.build", "gen.sh"}
with zipfile.ZipFile(os.path.join(d, ver + ".zip"), "w",
                     zipfile.ZIP_DEFLATED) as z:
    for f in sorted(files):
        rel = os.path.relpath(f, src)
        if rel in skip or not os.path.exists(f):
            continue
        info = zipfile.ZipInfo(mod + "@" + ver + "/" + rel,
                               date_time=(2000, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        with open(f, "rb") as fh:
            z.writestr(info, fh.read())
with open(os.path.join(src, "go.mod")) as fh, \
        open(os.path.join(d, ver + ".mod"), "w") as o:
    o.write(fh.read())
with open(os.path.join(d, ver + ".info"), "w") as o:
    json.dump({"Version": ver, "Time": time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, o)
with open(os.path.join(d, "list"), "w") as o:
    o.write(ver + "\n")
PY
    ls "$d/$mod/@v/v$version.zip"
}

for what in "$@"; do
    case $what in
        deb) build_deb ;;
        python) build_python ;;
        npm) build_npm ;;
        rock) build_rock ;;
        go) build_go ;;
        all) build_deb; build_python; build_npm; build_rock; build_go ;;
        *) echo "package.sh: unknown artifact $what" >&2; exit 2 ;;
    esac
done
echo "package.sh: libmq $version artifacts in $out"
