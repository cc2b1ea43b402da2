#!/bin/sh
# run.sh [OUTDIR] - the packaging test (stage 6 of scripts/test.sh): build
# the Debian packages with scripts/package.sh, install them on this machine
# with apt-get as a user would, use each one as its users do, against a
# real mosquitto on loopback, from an empty directory and a clean
# environment (nothing from the build tree), then purge them and check that
# the machine is as before: the same packages installed, none of the
# packages' files or directories left.
#
# Checks: libmq-dev (cc app.c $(pkg-config --cflags --libs libmq) builds, and
# runs a publish/subscribe round trip against the installed libmq0),
# libmq-tools (mqpub --help, mqsub|mqpub round trip, man pages), lua-mq
# (require "mq" and the packaged example), golang-libmq-dev (below, with
# Go), python3-libmq (import with
# Debian's python3 and the packaged asyncio example), node-libmq
# (require('libmq') and the MQTT.js example), lintian (no error or warning
# that is not explained below). With libmq-dev installed, the other
# ecosystems' packages: pip (the wheel, and the sdist linked to the
# packaged libmq, into virtual environments without PyPI), luarocks (make
# in a checkout, install of the packed rock), npm (the tarball into an empty
# project, with the Node on PATH and with Debian's Node), each running an
# example against the broker; Go (a program outside the repository, with
# no replace directive: go get from the module proxy layout of package.sh,
# a workspace and GOPATH mode with golang-libmq-dev's sources; go build and
# go test, each making a round trip through the broker).
#
# Needs root (apt-get install/purge) and the packages of scripts/deps.sh.
# Exit 0 = passed, 1 = failed, 77 = skipped (the reason is printed).
# OUTDIR (default build-pkg/ of the checkout) keeps the packages and logs.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=${1:-$top/build-pkg}
mkdir -p "$out"
out=$(cd "$out" && pwd)
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
version=$("$top/scripts/version.sh")
fails=0
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# Lintian tags that stay, each with its reason:
#   initial-upload-closes-no-bugs: the changelog's first entry closes no
#     ITP bug, as it would for an upload to Debian; these packages are
#     built from the upstream repository, not uploaded.
lintian_allowed="initial-upload-closes-no-bugs"

[ "$(id -u)" -eq 0 ] || skip "needs root (apt-get install/purge of the built packages)"
for t in dpkg-buildpackage apt-get pkg-config cc; do
    command -v $t >/dev/null || skip "$t not found (scripts/deps.sh installs it)"
done
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] ||
    skip "mosquitto not found"

# The machine must not have libmq already: the checks would not tell the
# packages from it, and the purge would remove what someone installed.
pkgs="libmq0 libmq-dev libmq-tools lua-mq python3-libmq node-libmq golang-libmq-dev"
for p in $pkgs; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        echo "FAIL: $p is already installed; remove it first (apt-get purge $p)"
        exit 1
    fi
done
for f in /usr/local/include/mq.h /usr/local/lib/pkgconfig/libmq.pc \
    "/usr/local/lib/$multiarch/pkgconfig/libmq.pc"; do
    [ -e "$f" ] && { echo "FAIL: $f exists (a meson install into /usr/local" \
        "would shadow the packages); remove it first"; exit 1; }
done

echo "== building the packages (scripts/package.sh deb python npm rock go)"
"$top/scripts/package.sh" -o "$out" deb python npm rock go ||
    { echo "FAIL: package build"; exit 1; }
debs=$(ls "$out"/debian/*_"$version"-*_"$arch".deb "$out"/debian/*_"$version"-*_all.deb)

echo "== symbols"
# dpkg-gensymbols compares the library with debian/libmq0.symbols: a new
# symbol version node (LIBMQ_0.x in libmq.map) needs its line there, with
# the first version that has it.
if grep -A30 "dpkg-gensymbols: warning" "$out/debian/build.log"; then
    fail "debian/libmq0.symbols does not match the library (see above)"
else
    ok "debian/libmq0.symbols matches libmq.so.0"
fi

echo "== lintian"
if [ -f "$out/debian/lintian.txt" ]; then
    grep -E '^[EWIPX]:' "$out/debian/lintian.txt" | sort -u
    bad=$(grep -E '^[EW]:' "$out/debian/lintian.txt" | awk '{print $3}' |
        sort -u | grep -vxF "$(echo "$lintian_allowed" | tr ' ' '\n')")
    if [ -n "$bad" ]; then
        fail "lintian errors/warnings not explained in run.sh: $bad"
    else
        ok "lintian: no unexplained error or warning"
    fi
else
    echo "note: lintian not installed, no lintian report"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/mq-pkgtest.XXXXXX")
dpkg-query -W -f='${Package}:${Architecture} ${db:Status-Abbrev}\n' |
    sort >"$work/before.txt"
for d in $debs; do dpkg-deb -c "$d"; done | awk '{print $6}' |
    sed 's|^\./|/|; s|/$||' | grep -v '^/*$' | sort -u >"$work/paths.txt"
# directories that exist before: they may stay after the purge
while read -r p; do
    [ -e "$p" ] && echo "$p"
done <"$work/paths.txt" >"$work/existing.txt"

installed=""
purge() {
    [ -n "$installed" ] || return 0
    echo "== purging"
    # what apt-get pulled in for them goes too: every package that was not
    # installed before
    dpkg-query -W -f='${Package}:${Architecture} ${db:Status-Abbrev}\n' |
        sort >"$work/after.txt"
    extra=$(comm -13 "$work/before.txt" "$work/after.txt" | awk '{print $1}')
    # shellcheck disable=SC2086
    apt-get -o DPkg::Lock::Timeout=600 purge -y -q $extra >"$work/purge.log" 2>&1 ||
        { cat "$work/purge.log"; fail "apt-get purge"; }
    installed=""
}
cleanup() {
    purge
    [ -n "${broker_dir:-}" ] && [ -f "$broker_dir/pid" ] &&
        kill "$(cat "$broker_dir/pid")" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "== apt-get install ./*.deb"
installed=1
# shellcheck disable=SC2086
if ! (cd "$out/debian" && DEBIAN_FRONTEND=noninteractive apt-get \
    -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $debs \
    >"$work/install.log" 2>&1); then
    cat "$work/install.log"
    echo "FAIL: apt-get install"
    exit 1
fi
ok "installed: $(echo "$debs" | xargs -n1 basename | tr '\n' ' ')"

# A broker for the checks (bindings/tests/with-broker.sh's way, by PID).
broker_dir=$work/broker
mkdir -p "$broker_dir"
chmod 755 "$work" "$broker_dir"
mosq=$(command -v mosquitto || echo /usr/sbin/mosquitto)
n=0
while :; do
    port=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 20000 + 20000 ))
    printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$port" \
        >"$broker_dir/mosquitto.conf"
    : >"$broker_dir/broker.log"
    "$mosq" -c "$broker_dir/mosquitto.conf" >>"$broker_dir/broker.log" 2>&1 &
    echo $! >"$broker_dir/pid"
    i=0
    while [ $i -lt 100 ] && ! grep -q " running" "$broker_dir/broker.log"; do
        kill -0 "$(cat "$broker_dir/pid")" 2>/dev/null || break
        sleep 0.05
        i=$((i + 1))
    done
    grep -q " running" "$broker_dir/broker.log" && break
    kill "$(cat "$broker_dir/pid")" 2>/dev/null
    n=$((n + 1))
    [ $n -lt 20 ] || { cat "$broker_dir/broker.log"; echo "FAIL: mosquitto"; exit 1; }
done
uri=mqtt://127.0.0.1:$port

# A user's shell: an empty directory, no variable pointing into the build
# tree (PKG_CONFIG_PATH, LD_LIBRARY_PATH, LUA_*, PYTHONPATH...).
app=$work/app
mkdir -p "$app"
user_in() {   # dir command...
    (cd "$1" && shift && env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$app" \
        LANG=C.UTF-8 "$@")
}
user() { user_in "$app" "$@"; }

echo "== libmq-dev: cc app.c \$(pkg-config --cflags --libs libmq)"
cp "$here/app.c" "$app/app.c"
if user sh -c 'cc -Wall -Werror -o app app.c $(pkg-config --cflags --libs libmq)' \
    >"$work/cc.log" 2>&1; then
    ok "built: $(user pkg-config --modversion libmq) from $(user pkg-config --variable=pcfiledir libmq)"
    [ "$(user pkg-config --modversion libmq)" = "$version" ] ||
        fail "pkg-config says $(user pkg-config --modversion libmq)"
    lib=$(user ldd ./app | awk '/libmq\.so/ {print $3}')
    [ -n "$lib" ] && [ "$(readlink -f "$lib")" = \
        "$(readlink -f "/usr/lib/$multiarch/libmq.so.0")" ] ||
        fail "app uses $lib, not the packaged /usr/lib/$multiarch/libmq.so.0"
    if user ./app "$uri" >"$work/app.log" 2>&1; then
        ok "app: $(head -1 "$work/app.log"), round trip through the broker"
        grep -q "^libmq $version (header $version)" "$work/app.log" ||
            fail "app reports $(head -1 "$work/app.log")"
    else
        cat "$work/app.log"
        fail "app against the broker"
    fi
else
    cat "$work/cc.log"
    fail "cc app.c \$(pkg-config --cflags --libs libmq)"
fi

echo "== libmq-tools"
user mqpub --help >"$work/help.txt" 2>&1
if grep -q "^Usage: mqpub" "$work/help.txt"; then
    ok "mqpub --help"
else
    head -5 "$work/help.txt"
    fail "mqpub --help"
fi
for t in mqpub mqsub mqrr mqbench; do
    user man -w "$t" >/dev/null 2>&1 || fail "no man page for $t"
done
user mqsub -h 127.0.0.1 -p "$port" -t libmq/packaging/tools -C 1 -W 10 \
    >"$work/sub.txt" 2>&1 &
subpid=$!
i=0
# mqsub is subscribed once the broker logs its SUBSCRIBE; publish until
# the subscriber has its message (at most 10 s)
while kill -0 $subpid 2>/dev/null && [ $i -lt 50 ]; do
    user mqpub -h 127.0.0.1 -p "$port" -t libmq/packaging/tools -m "tools ok" -q 1 \
        >/dev/null 2>&1
    sleep 0.2
    i=$((i + 1))
done
wait $subpid
if grep -qx "tools ok" "$work/sub.txt"; then
    ok "mqsub received what mqpub sent"
else
    cat "$work/sub.txt"
    fail "mqsub | mqpub round trip"
fi

echo "== lua-mq"
if user lua5.4 -e 'local mq = require "mq"; print("lua: libmq " .. mq._VERSION)' \
    >"$work/lua.txt" 2>&1; then
    ok "$(cat "$work/lua.txt")"
    grep -q "libmq $version" "$work/lua.txt" || fail "lua reports $(cat "$work/lua.txt")"
else
    cat "$work/lua.txt"
    fail "lua5.4 -e 'require \"mq\"'"
fi
ex=/usr/share/doc/lua-mq/examples/pubsub.lua
if user lua5.4 "$ex" "$uri" >"$work/lua-ex.txt" 2>&1 &&
    grep -q "^message on" "$work/lua-ex.txt"; then
    ok "lua example $ex"
else
    cat "$work/lua-ex.txt"
    fail "lua example $ex"
fi

echo "== python3-libmq"
if user /usr/bin/python3 -c 'import libmq, libmq.client as mqtt; print("python: libmq", libmq.__file__)' \
    >"$work/py.txt" 2>&1; then
    ok "$(cat "$work/py.txt")"
    grep -q "/usr/lib/python3/dist-packages/libmq/" "$work/py.txt" ||
        fail "python imported libmq from elsewhere"
else
    cat "$work/py.txt"
    fail "/usr/bin/python3 -c 'import libmq.client'"
fi
ex=/usr/share/doc/python3-libmq/examples/asyncio_pubsub.py
if user env MQTT_BROKER=127.0.0.1 MQTT_PORT="$port" /usr/bin/python3 "$ex" \
    >"$work/py-ex.txt" 2>&1; then
    ok "python example $ex"
else
    cat "$work/py-ex.txt"
    fail "python example $ex"
fi

echo "== node-libmq"
node_example=$top/bindings/node/examples/mqttjs/hello.js
if ! command -v node >/dev/null; then
    echo "SKIP node-libmq: no node on PATH"
elif where=$(user node -p 'require.resolve("libmq")' 2>"$work/node.txt"); then
    case $where in
        /usr/lib/*) ok "node: require('libmq') is $where" ;;
        *) fail "node: require('libmq') is $where, not the package's" ;;
    esac
    cp "$node_example" "$app/hello.js"
    if user env MQTT_URL="$uri" node hello.js >"$work/node-ex.txt" 2>&1 &&
        grep -q "^message: true Hello mqtt" "$work/node-ex.txt"; then
        ok "node: the MQTT.js example ran with the packaged module"
    else
        cat "$work/node-ex.txt"
        fail "node: the MQTT.js example with require('libmq')"
    fi
else
    cat "$work/node.txt"
    fail "node -e 'require(\"libmq\")'"
fi

echo "== pip (Python sdist and wheel, offline, into virtual environments)"
# pip without PyPI: the build backend is Debian's meson-python, reached
# with --system-site-packages and --no-build-isolation.
cp "$top/bindings/python/examples/asyncio_pubsub.py" "$app/"
pip_check() {    # venv-name what pip-args...
    name=$1
    venv=$work/$name
    what=$2
    shift 2
    if ! user /usr/bin/python3 -m venv --system-site-packages "$venv" ||
        ! user "$venv/bin/pip" install -q --no-index --no-build-isolation "$@" \
            >"$work/$name.log" 2>&1; then
        cat "$work/$name.log" 2>/dev/null
        fail "pip install $what"
        return
    fi
    ext=$(ls "$venv"/lib/python3*/site-packages/libmq/_mq_core*.so)
    user env MQTT_BROKER=127.0.0.1 MQTT_PORT="$port" "$venv/bin/python" \
        asyncio_pubsub.py >"$work/$name-ex.txt" 2>&1 ||
        { cat "$work/$name-ex.txt"; fail "$what: the asyncio example"; return; }
    ok "pip install $what: example ran ($(user ldd "$ext" |
        awk '/libmq\.so/ {print "libmq from " $3; f=1} END {if (!f) print "libmq built in"}'))"
}
pip_check venv-wheel "the wheel" "$out"/python/libmq-"$version"-*.whl
pip_check venv-system "the sdist, linked to the packaged libmq" \
    --config-settings=setup-args=-Dpython_libmq=system \
    "$out/python/libmq-$version.tar.gz"
ext=$(ls "$work"/venv-system/lib/python3*/site-packages/libmq/_mq_core*.so 2>/dev/null)
if [ -n "$ext" ]; then
    lib=$(user ldd "$ext" | awk '/libmq\.so/ {print $3}')
    [ -n "$lib" ] && [ "$(readlink -f "$lib")" = \
        "$(readlink -f "/usr/lib/$multiarch/libmq.so.0")" ] ||
        fail "python_libmq=system: the extension does not use the packaged libmq ($lib)"
fi

echo "== luarocks (make from a checkout; install of the packed rock without swig)"
checkout=$work/checkout
mkdir -p "$checkout"
(cd "$top" && git ls-files -z --cached --others --exclude-standard |
    xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
    tar --null -T - -cf -) | tar -xf - -C "$checkout"
chmod -R a+rX "$work"
rock_check() {   # dir tree what luarocks-args...
    dir=$1
    tree=$2
    what=$3
    shift 3
    if ! user_in "$dir" env SWIG="${SWIG:-swig}" luarocks --lua-version=5.4 --tree="$tree" "$@" \
        >"$tree.log" 2>&1; then
        cat "$tree.log"
        fail "luarocks $what"
        return
    fi
    lpath=$(user luarocks --lua-version=5.4 --tree="$tree" path --lr-path)
    lcpath=$(user luarocks --lua-version=5.4 --tree="$tree" path --lr-cpath)
    core=$(user env LUA_PATH="$lpath;;" LUA_CPATH="$lcpath;;" lua5.4 -e \
        'require "mq"; print(package.searchpath("mq_core", package.cpath))')
    case $core in
        "$tree"/*) ;;
        *) fail "luarocks $what: mq_core comes from $core, not the rock tree"; return ;;
    esac
    if user env LUA_PATH="$lpath;;" LUA_CPATH="$lcpath;;" lua5.4 \
        "$checkout/bindings/lua/examples/pubsub.lua" "$uri" >"$tree-ex.txt" 2>&1 &&
        grep -q "^message on" "$tree-ex.txt"; then
        ok "luarocks $what: the example ran with $core"
    else
        cat "$tree-ex.txt"
        fail "luarocks $what: the example"
    fi
}
# luarocks make builds the sources of the current directory
rock_check "$checkout" "$work/rocks-make" "make (in a checkout, with swig)" \
    make "bindings/lua/libmq-$version-1.rockspec"
SWIG=none rock_check "$app" "$work/rocks-install" "install of the packed rock (no swig)" \
    install "$out/rock/libmq-$version-1.src.rock"

echo "== npm (npm install of the tarball in an empty project: the addon is"
echo "   built for the Node that runs the install, against the packaged libmq)"
tgz=$out/npm/libmq-$version.tgz
npm_check() {   # label project: npm install, require, round trip
    label=$1
    proj=$2
    shift 2
    mkdir -p "$proj"
    echo '{ "name": "app", "version": "1.0.0", "private": true }' >"$proj/package.json"
    cp "$node_example" "$proj/hello.js"
    if ! "$@" sh -c "cd '$proj' && npm install --foreground-scripts --no-audit --no-fund '$tgz'" \
        >"$proj.log" 2>&1; then
        cat "$proj.log"
        fail "npm install ($label)"
        return
    fi
    where=$("$@" sh -c "cd '$proj' && node -p 'process.version + \" \" + require.resolve(\"libmq\")'")
    case $where in
        *" $proj/node_modules/libmq/"*) ;;
        *) fail "npm ($label): require('libmq') gives $where"; return ;;
    esac
    if "$@" sh -c "cd '$proj' && MQTT_URL='$uri' node hello.js" >"$proj-ex.txt" 2>&1 &&
        grep -q "^message: true Hello mqtt" "$proj-ex.txt"; then
        ok "npm ($label): Node $(echo "$where" | cut -d' ' -f1), $(grep -o 'building mq_native.node.*against libmq [0-9.]*' "$proj.log" | head -1 | sed 's/:$//'), MQTT.js example ran"
    else
        cat "$proj-ex.txt"
        fail "npm ($label): the MQTT.js example with require('libmq')"
    fi
}
node_major=""
if command -v node >/dev/null && command -v npm >/dev/null; then
    node_major=$(node -p 'process.versions.node.split(".")[0]')
    npm_check "Node on PATH" "$work/npm-path" user
else
    echo "SKIP npm: node or npm not installed"
fi
# Debian's Node 18 when the Node on PATH is another one (here: NodeSource's
# Node 20 holds the name nodejs, so Debian's cannot be installed): its
# packages are unpacked and laid over /usr in a private mount namespace
# (nothing changes outside it); npm (the one on PATH) runs the install
# script with Debian's node first on PATH.
debian_node=$(apt-cache madison nodejs 2>/dev/null | awk '/debian.org/ {print $3; exit}')
if [ "$node_major" = "${debian_node%%.*}" ]; then
    echo "note: the Node on PATH is Debian's ($debian_node): tested above"
elif [ -z "$debian_node" ]; then
    echo "SKIP npm with Debian's Node: no Debian nodejs in the apt sources"
elif ! unshare -m true 2>/dev/null; then
    echo "SKIP npm with Debian's Node: no mount namespace here (unshare -m)"
else
    n18=$out/node-debian
    mkdir -p "$n18/debs"
    libnode=$(apt-cache depends "nodejs=$debian_node" | awk '/Depends: libnode[0-9]/ {print $2; exit}')
    (cd "$n18/debs" && [ -n "$(ls ./nodejs_* 2>/dev/null)" ] ||
        apt-get download -q "nodejs=$debian_node" "$libnode=$debian_node" \
            "libnode-dev=$debian_node" node-acorn node-cjs-module-lexer node-undici \
            >"$n18/download.log" 2>&1) || cat "$n18/download.log"
    root=$work/node-debian
    mkdir -p "$root"
    for d in "$n18"/debs/*.deb; do dpkg-deb -x "$d" "$root"; done
    npmcli=$(readlink -f "$(command -v npm)")
    : >"$work/node-host"
    mkdir -p "$work/npmbin"
    printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$work/node-host" "$npmcli" \
        >"$work/npmbin/npm"
    chmod +x "$work/npmbin/npm"
    # ns.sh command...: in the namespace, the Node on PATH (which runs npm)
    # stays reachable as node-host, then Debian's packages cover /usr
    cat >"$work/ns.sh" <<NS
mount --make-rprivate / &&
mount --bind "$(readlink -f "$(command -v node)")" "$work/node-host" &&
mount -t overlay overlay -o lowerdir=$root/usr:/usr /usr || exit 1
exec env -i PATH=$work/npmbin:/usr/bin:/bin HOME="$app" LANG=C.UTF-8 "\$@"
NS
    if [ -x "$root/usr/bin/node" ]; then
        npm_check "Debian's Node $debian_node" "$work/npm-debian" unshare -m sh "$work/ns.sh"
    else
        fail "could not unpack Debian's nodejs $debian_node (see $n18/download.log)"
    fi
fi

echo "== Go (a program outside the repository, no replace directive, offline)"
gomod=$(sed -n 's/^module //p' "$top/bindings/go/go.mod")
gosrc=/usr/share/gocode/src/$gomod
go_check() {   # route dir env...: go build + run, go test, in dir
    route=$1
    dir=$2
    shift 2
    if user_in "$dir" env "$@" go build -o app . >"$dir.log" 2>&1 &&
        user_in "$dir" env "$@" ./app "$uri" >"$dir-run.txt" 2>&1 &&
        grep -qx "ok" "$dir-run.txt" &&
        user_in "$dir" env "$@" MQ_TEST_URI="$uri" go test -count=1 -v . \
            >"$dir-test.txt" 2>&1 &&
        grep -q "^--- PASS: TestRoundTrip" "$dir-test.txt"; then
        ok "go ($route): go build and go test ($(head -1 "$dir-run.txt"), round trip)"
        grep -q "^replace" "$dir/go.mod" 2>/dev/null && fail "go ($route): go.mod has a replace directive"
    else
        cat "$dir.log" "$dir-run.txt" "$dir-test.txt" 2>/dev/null
        fail "go ($route)"
    fi
}
go_new() {     # dir [module]: the program's sources, and its go.mod when module mode
    mkdir -p "$1"
    cp "$here/go/main.go" "$here/go/main_test.go" "$1/"
    [ -z "${2:-}" ] || printf 'module %s\n\ngo 1.19\n' "$2" >"$1/go.mod"
}
# Go's caches under the user's HOME ($app); -modcacherw so that the
# cleanup can remove the module cache
goenv="GOFLAGS=-modcacherw GOTOOLCHAIN=local CGO_ENABLED=1"
if ! command -v go >/dev/null; then
    echo "SKIP Go: no go on PATH (golang-go)"
else
    [ -f "$gosrc/go.mod" ] || fail "golang-libmq-dev: no $gosrc/go.mod"
    # go get from a module proxy: package.sh's layout, as proxy.golang.org
    # serves the published module (no checksum database offline)
    d=$work/go-proxy
    go_new "$d" example.com/app
    if user_in "$d" env $goenv GOPROXY="file://$out/goproxy" GONOSUMDB=github.com/libmq \
        go get "$gomod@v$version" >"$d-get.log" 2>&1; then
        go_check "go get from GOPROXY=file://.../goproxy" "$d" $goenv GOPROXY=off
    else
        cat "$d-get.log"
        fail "go get $gomod@v$version from the module proxy layout"
    fi
    # a workspace with the packaged sources (Go 1.18+)
    d=$work/go-work
    go_new "$d" example.com/app
    if user_in "$d" env $goenv GOPROXY=off go work init . "$gosrc" >"$d-init.log" 2>&1; then
        go_check "workspace with $gosrc" "$d" $goenv GOPROXY=off
    else
        cat "$d-init.log"
        fail "go work init . $gosrc"
    fi
    # GOPATH mode, as Debian builds Go packages
    d=$work/go-gopath
    go_new "$d"
    go_check "GOPATH mode with /usr/share/gocode" "$d" $goenv GO111MODULE=off \
        GOPATH="$app/go:/usr/share/gocode"
fi

purge
echo "== after the purge"
dpkg-query -W -f='${Package}:${Architecture} ${db:Status-Abbrev}\n' |
    sort >"$work/after.txt"
if cmp -s "$work/before.txt" "$work/after.txt"; then
    ok "the same packages are installed as before"
else
    diff "$work/before.txt" "$work/after.txt"
    fail "the installed packages differ from before"
fi
left=$(comm -23 "$work/paths.txt" "$work/existing.txt" |
    while read -r p; do [ -e "$p" ] && echo "$p"; done)
if [ -z "$left" ]; then
    ok "none of the $(wc -l <"$work/paths.txt") paths of the packages is left" \
        "(except $(wc -l <"$work/existing.txt") directories that existed before)"
else
    echo "$left"
    fail "files or directories left after the purge"
fi

if [ $fails -ne 0 ]; then
    echo "packaging: $fails check(s) failed (packages and logs in $out)"
    exit 1
fi
echo "packaging: all checks passed"
