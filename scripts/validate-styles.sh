#!/usr/bin/env bash
# Validates every styles/*.json:
#   1. the files are what scripts/build-styles.mjs makes (no hand edits drifting from the code list);
#   2. gl-style-validate (@maplibre/maplibre-gl-style-spec, the version maplibre-gl 5 uses) after
#      substituting {{base}} → http://127.0.0.1:8080 and {{layers}}/{{layer}} → a sample id;
#   3. the cuulong rules: only the documented subset (styles/README.md) of layer types and
#      expressions, every style layer's metadata (cuulong:layer, titles, legend entries), one
#      vector source "cuulong" whose url is {{base}}/tiles/<ids>.json, and glyph PBFs for every
#      text-font under tile-server/web/fonts/.
# Installs the validator into .tools/node when it is missing. Exits non-zero on any error.
set -euo pipefail
cd "$(dirname "$0")/.."
node_dir=.tools/node
validator=$node_dir/node_modules/.bin/gl-style-validate
if [ ! -x "$validator" ]; then
  mkdir -p "$node_dir"
  [ -f "$node_dir/package.json" ] || echo '{"name":"cuulong-test-tools","private":true}' > "$node_dir/package.json"
  npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error --save-exact \
    @maplibre/maplibre-gl-style-spec@24.8.1 >/dev/null
fi

fail=0
node scripts/build-styles.mjs --check || fail=1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
shopt -s nullglob
styles=(styles/*.json)
if ((${#styles[@]} == 0)); then echo "no styles/*.json" >&2; exit 1; fi
for f in "${styles[@]}"; do
  out="$tmp/$(basename "$f")"
  sed -e 's#{{base}}#http://127.0.0.1:8080#g' -e 's#{{layers}}#land_use#g' -e 's#{{layer}}#land_use#g' "$f" > "$out"
  if ! "$validator" "$out" > "$tmp/log" 2>&1 || [ -s "$tmp/log" ]; then
    sed "s#$tmp/#styles/#" "$tmp/log" >&2
    fail=1
  fi
done

node --input-type=module - "${styles[@]}" <<'EOF' || fail=1
import {readFileSync, existsSync} from 'node:fs';
import path from 'node:path';
const TYPES = new Set(['fill', 'line', 'circle', 'symbol']);
const OPS = new Set(['match', 'case', 'step', 'interpolate', 'get', 'literal', 'coalesce', 'to-string',
  'zoom', 'geometry-type']);
const CONSTANT_ARRAYS = new Set(['text-font']);
let errors = 0;
const err = (f, msg) => { console.error(`${f}: ${msg}`); errors++; };
function walk(f, where, e) {
  if (!Array.isArray(e)) return;
  const op = e[0];
  if (typeof op !== 'string' || !OPS.has(op)) { err(f, `${where}: expression '${JSON.stringify(op)}' is outside the cuulong subset`); return; }
  if (op === 'literal') return;
  if (op === 'match') {
    walk(f, where, e[1]);
    for (let i = 2; i < e.length - 1; i += 2) walk(f, where, e[i + 1]);
    walk(f, where, e[e.length - 1]);
  } else if (op === 'interpolate') {
    const t = e[1];
    if (!Array.isArray(t) || !['linear', 'exponential'].includes(t[0])) err(f, `${where}: interpolation ${JSON.stringify(t)}`);
    walk(f, where, e[2]);
    for (let i = 4; i < e.length; i += 2) walk(f, where, e[i]);
  } else if (op === 'step') {
    walk(f, where, e[1]); walk(f, where, e[2]);
    for (let i = 4; i < e.length; i += 2) walk(f, where, e[i]);
  } else {
    for (const a of e.slice(1)) walk(f, where, a);
  }
}
for (const f of process.argv.slice(2)) {
  const s = JSON.parse(readFileSync(f, 'utf8').replaceAll('{{layers}}', 'land_use').replaceAll('{{layer}}', 'land_use'));
  const src = s.sources?.cuulong;
  if (!src || src.type !== 'vector' || !/^\{\{base\}\}\/tiles\/[^/]+\.json$/.test(src.url ?? '')) {
    err(f, 'needs sources.cuulong = {type: vector, url: {{base}}/tiles/<ids>.json}');
  }
  // Besides cuulong, a `live` source may carry the live layers (ids ending in _latest, and the
  // salinity fronts).
  const live = s.sources?.live;
  const liveIds = [];
  if (live) {
    const m = /^\{\{base\}\}\/tiles\/([a-z0-9_,]+)\.json$/.exec(live.url ?? '');
    if (live.type !== 'vector' || !m || !m[1].split(',').every((id) => id.endsWith('_latest') || id === 'salinity_front')) {
      err(f, 'sources.live must be {type: vector, url: {{base}}/tiles/<*_latest ids, salinity_front>.json}');
    } else liveIds.push(...m[1].split(','));
  }
  if (Object.keys(s.sources ?? {}).length !== (live ? 2 : 1)) err(f, 'one source (cuulong), and live for live layers');
  const ids = (src?.url ?? '').replace(/^.*\/tiles\//, '').replace(/\.json$/, '').split(',');
  if (s.glyphs !== '{{base}}/fonts/{fontstack}/{range}.pbf') err(f, 'glyphs must be {{base}}/fonts/{fontstack}/{range}.pbf');
  const seen = new Set();
  for (const l of s.layers) {
    const at = `layer ${l.id}`;
    if (!TYPES.has(l.type)) err(f, `${at}: type ${l.type} is outside the cuulong subset`);
    const m = l.metadata ?? {};
    for (const k of ['cuulong:layer', 'cuulong:title_vi', 'cuulong:title_en']) {
      if (typeof m[k] !== 'string' || !m[k]) err(f, `${at}: metadata.${k} missing`);
    }
    if (m['cuulong:layer'] !== l['source-layer']) err(f, `${at}: metadata cuulong:layer ≠ source-layer`);
    const own = l.source === 'live' ? liveIds : ids;
    if (!own.includes(l['source-layer'])) err(f, `${at}: source-layer ${l['source-layer']} not in the source url`);
    seen.add(l['source-layer']);
    for (const e of m['cuulong:legend'] ?? []) {
      if (!e.code || !e.vi || !e.en || !/^#[0-9A-Fa-f]{6}$/.test(e.color ?? '')) err(f, `${at}: legend entry ${JSON.stringify(e)}`);
    }
    if (l.filter !== undefined) walk(f, `${at} filter`, l.filter);
    for (const part of ['layout', 'paint']) {
      for (const [k, v] of Object.entries(l[part] ?? {})) {
        if (!CONSTANT_ARRAYS.has(k)) walk(f, `${at} ${k}`, v);
        if (k === 'text-font') {
          for (const stack of v) {
            if (!existsSync(path.join('tile-server/web/fonts', stack, '0-255.pbf'))) err(f, `${at}: no glyphs for font '${stack}' in tile-server/web/fonts`);
          }
        }
      }
    }
  }
  for (const id of ids) if (!seen.has(id)) err(f, `source id ${id} has no style layer`);
}
if (errors) process.exit(1);
EOF

if [ "$fail" != 0 ]; then echo "styles: INVALID" >&2; exit 1; fi
echo "styles: ${#styles[@]} valid (${styles[*]})"
