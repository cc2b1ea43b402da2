#!/usr/bin/env python3
"""parity.py - check the parity table of bindings/README.md against mq.h and
the Lua, Go, Node and Python layers.

  parity.py [SOURCE_ROOT]

Fails (exit 1, one line per problem) when:
  - mq.h has a function (MQ_API), an integer or string option (MQ_OPT_*,
    MQ_SOPT_*) or an event kind (MQ_EVENT_*) that no row of the table names;
  - a row's cell for a language is empty;
  - a cell does not start with "C only" and the language's layer does not
    reach every C symbol of its row: a symbol is reached when the layer's
    source names it (helpers of bindings/mq.i whose names start with it,
    such as mq_subscribe_many_list, count), or when the cell says it goes
    "via `mq_x`" and the layer names every such mq_x;
  - a cell names an API (`Name`, `c:name`, `client.name(...)`) that the
    layer's source does not contain;
  - a layer lacks an MQTT 5 property id (MQ_PROP_*), or Go a sentinel for
    an MQ_ERR_* code.
A "C only" cell must give a reason ("C only: ...").
"""
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', '..')
HEADER = os.path.join(ROOT, 'libmq', 'include', 'mq.h')
README = os.path.join(ROOT, 'bindings', 'README.md')
LANGS = {
    'Lua': ['bindings/lua/mq.lua'],
    'Go': ['bindings/go/mq.go', 'bindings/go/options.go', 'bindings/go/props.go',
           'bindings/go/errors.go'],
    'Node': ['bindings/node/index.js', 'bindings/node/lib/native.js',
             'bindings/node/lib/options.js', 'bindings/node/lib/props.js'],
    'Python': ['bindings/python/libmq/' + f for f in (
        '__init__.py', 'client.py', 'properties.py', 'publish.py', 'subscribe.py',
        'subscribeoptions.py')],
}
# how each layer names the generated module's symbols
PREFIX = {'Go': 'cmq.', 'Lua': 'core.', 'Node': 'N.', 'Python': '_core.'}
# words of a cell that are not API names of the layer
GENERIC = {'c', 'client', 'mq', 'Options', 'opts', 'TLS', 'Properties', 'Message', 'err',
           'e', 'info', 'msg', 'packet', 'true', 'false', 'nil', 'null', 'options', 'Error',
           'Subscription', 'Will', 'ctx', 'new', 'await', 'properties', 'string', 'number',
           'libmq', 'mqtt', 'None', 'True', 'False'}

problems = []


def read(path):
    with open(os.path.join(ROOT, path), encoding='utf-8') as f:
        return f.read()


def header_symbols():
    h = read(os.path.relpath(HEADER, ROOT))
    h = re.sub(r'/\*.*?\*/', '', h, flags=re.S)
    funcs = re.findall(r'MQ_API\b[^;(]*?\b(mq_\w+)\s*\(', h)
    opts = re.findall(r'\b(MQ_S?OPT_\w+)\s*=', h)
    events = [e for e in re.findall(r'\b(MQ_EVENT_\w+)\s*=', h) if e != 'MQ_EVENT_NONE']
    props = re.findall(r'\b(MQ_PROP_\w+)\s*=', h)
    errs = ['MQ_ERR_' + n for n in re.findall(r'X\((\w+),\s*\d+,', h)]
    return funcs, opts, events, props, errs


def layer_source(lang):
    src = '\n'.join(read(p) for p in LANGS[lang])
    if lang == 'Python':
        # names imported straight from the extension count as _core.name
        for names in re.findall(r'from \._mq_core import (\([^)]*\)|[^\n]*)', src):
            src += ''.join('\n_core.' + n for n in re.findall(r'\b(mq_\w+)\b', names))
    return src


def reaches(src, lang, sym):
    """Does the layer's source name the C symbol sym (or a helper named
    after it)?"""
    if sym.startswith('mq_'):
        if lang == 'Go':
            name = 'cmq.M' + sym[1:]
        else:
            name = PREFIX[lang] + sym
        return re.search(re.escape(name) + r'(_\w+)?\b', src) is not None
    return re.search(re.escape(PREFIX[lang] + sym) + r'\b', src) is not None


def table_rows():
    text = read(os.path.relpath(README, ROOT))
    m = re.search(r'<!-- parity:begin -->(.*?)<!-- parity:end -->', text, re.S)
    if not m:
        problems.append('bindings/README.md: no <!-- parity:begin --> ... <!-- parity:end --> table')
        return [], []
    lines = [ln.strip() for ln in m.group(1).strip().splitlines() if ln.strip().startswith('|')]
    head = [c.strip() for c in lines[0].strip('|').split('|')]
    rows = []
    for ln in lines[2:]:
        cells = [c.strip() for c in re.split(r'(?<!\\)\|', ln.strip().strip('|'))]
        if len(cells) != len(head):
            problems.append(f'README table: row has {len(cells)} cells, not {len(head)}: {ln[:60]}')
            continue
        rows.append(dict(zip(head, cells)))
    return head, rows


def api_names(cell):
    names = []
    for span in re.findall(r'`([^`]+)`', cell):
        if re.match(r'(mq_|MQ_)', span):
            continue
        words = re.findall(r'[A-Za-z_]\w*', span)
        words = [w for w in words if w not in GENERIC]
        if words:
            names.append(words[0])
    return names


def main():
    funcs, opts, events, props, errs = header_symbols()
    head, rows = table_rows()
    sources = {lang: layer_source(lang) for lang in LANGS}
    named = set()
    for row in rows:
        csyms = re.findall(r'`((?:mq|MQ)_\w+)`', row.get('mq.h', ''))
        if not csyms:
            problems.append(f"README table: row '{row.get('capability')}' names no mq.h symbol")
        named.update(csyms)
        for lang in LANGS:
            cell = row.get(lang, '')
            where = f"README table, row '{row.get('capability')}', {lang}"
            if not cell:
                problems.append(f'{where}: empty cell')
                continue
            if cell.startswith('C only'):
                if len(cell) < len('C only: ') + 5:
                    problems.append(f'{where}: "C only" needs a reason')
                continue
            src = sources[lang]
            via = re.findall(r'via `(mq_\w+)`', cell)
            via_ok = bool(via) and all(reaches(src, lang, v) for v in via)
            for v in via:
                if not reaches(src, lang, v):
                    problems.append(f'{where}: says via {v}, which the layer does not call')
            for sym in csyms:
                if not reaches(src, lang, sym) and not via_ok:
                    problems.append(f'{where}: the layer does not reach {sym} '
                                    '(call it, say "via `mq_x`", or write "C only: why")')
            for name in api_names(cell):
                if not re.search(r'\b' + re.escape(name) + r'\b', src):
                    problems.append(f'{where}: names `{name}`, which is not in the layer')
    for sym in funcs + opts + events:
        if sym not in named:
            problems.append(f'mq.h has {sym}, which no row of the bindings/README.md parity table names')
    for lang in LANGS:
        for p in props:
            if p == 'MQ_PROP_USER_PROPERTY':
                continue  # user properties go through mq_props_add_user / user_*
            if not reaches(sources[lang], lang, p):
                problems.append(f'{lang} layer lacks the MQTT 5 property {p}')
    for e in errs:
        if not reaches(sources['Go'], 'Go', e):
            problems.append(f'Go layer has no sentinel error for {e}')
    for p in problems:
        print('parity: ' + p)
    print(f'parity: {len(funcs)} functions, {len(opts)} options, {len(events)} event kinds, '
          f'{len(props)} properties, {len(errs)} error codes, {len(rows)} table rows; '
          f'{len(problems)} problems')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
