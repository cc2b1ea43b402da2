'use strict';
/*
 * build-addon.js - the npm install script of the libmq package: builds the
 * addon mq_native.node (binding.gyp) with node-gyp for the Node that runs
 * this script, against the libmq that pkg-config finds.
 *
 * - libmq: `pkg-config libmq` must find at least this package's version
 *   (the addon is made from that version's mq.h); otherwise a clear message
 *   says what to install (Debian: libmq-dev) and the install fails.
 * - Node headers: taken from the Node installation that runs this script
 *   when it has them (<prefix>/include/node of the same version: Debian's
 *   libnode-dev, NodeSource and nodejs.org builds), so the build works
 *   offline; otherwise node-gyp's own choice (npm_config_nodedir, or a
 *   download from nodejs.org).
 * - node-gyp: npm's (npm_config_node_gyp, set by npm for install scripts),
 *   else the node-gyp module or command (Debian: node-gyp).
 * `node build-addon.js --rpath` prints the linker flag binding.gyp adds when
 * libmq is outside the system library directories.
 *
 * Threading: a command-line script; runs once per install.
 */
const { spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

function pkgConfig(...args) {
    return execFileSync('pkg-config', args, { encoding: 'utf8' }).trim();
}

function rpathFlag() {
    let libdir;
    try {
        libdir = pkgConfig('--variable=libdir', 'libmq');
    } catch (e) {
        return '';
    }
    if (/^\/(usr\/)?lib(\/[^/]*-linux-gnu[^/]*)?$/.test(libdir))
        return '';
    return `-Wl,-rpath,${libdir}`;
}

function checkLibmq(version) {
    try {
        pkgConfig(`--atleast-version=${version}`, 'libmq');
        return true;
    } catch (e) {
        let found = 'none';
        try {
            found = pkgConfig('--modversion', 'libmq');
        } catch (e2) { /* not found at all */ }
        console.error(`libmq: the C library libmq >= ${version} was not found by ` +
            `pkg-config (found: ${found}).\n` +
            'Install it (Debian: apt install libmq-dev; from source: meson ' +
            'install), or set PKG_CONFIG_PATH to the directory of its libmq.pc.');
        return false;
    }
}

/* The prefix of the running Node when it has headers of its own version. */
function localNodeDir() {
    const prefix = path.resolve(path.dirname(process.execPath), '..');
    const h = path.join(prefix, 'include', 'node', 'node_version.h');
    let text;
    try {
        text = fs.readFileSync(h, 'utf8');
    } catch (e) {
        return null;
    }
    const num = (n) => (text.match(new RegExp(`#define NODE_${n}_VERSION (\\d+)`)) || [])[1];
    const v = `${num('MAJOR')}.${num('MINOR')}.${num('PATCH')}`;
    return v === process.versions.node ? prefix : null;
}

function nodeGyp() {
    const candidates = [process.env.npm_config_node_gyp];
    try {
        candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
    } catch (e) { /* not a module here */ }
    for (const c of candidates)
        if (c && fs.existsSync(c))
            return [process.execPath, c];
    return ['node-gyp'];
}

function main() {
    if (process.argv[2] === '--rpath') {
        process.stdout.write(rpathFlag());
        return 0;
    }
    const version = require('./package.json').version;
    if (!checkLibmq(version))
        return 1;
    const args = ['rebuild'];
    if (!process.env.npm_config_nodedir) {
        const dir = localNodeDir();
        if (dir)
            args.push(`--nodedir=${dir}`);
    }
    const [cmd, ...pre] = nodeGyp();
    console.log(`libmq: building mq_native.node for Node ${process.version} ` +
        `against libmq ${pkgConfig('--modversion', 'libmq')}: ` +
        [cmd, ...pre, ...args].join(' '));
    const r = spawnSync(cmd, [...pre, ...args], { stdio: 'inherit', cwd: __dirname });
    if (r.error) {
        console.error(`libmq: cannot run node-gyp (${r.error.message}); ` +
            'install it (Debian: apt install node-gyp) or use npm.');
        return 1;
    }
    return r.status === null ? 1 : r.status;
}

process.exitCode = main();
