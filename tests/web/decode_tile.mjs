#!/usr/bin/env node
// Decodes one Mapbox Vector Tile with @mapbox/vector-tile + pbf (an independent decoder, the one
// MapLibre uses) and prints JSON {"<layer>": [feature ids in tile order], ...}; a feature without
// an id is null. With --full: {"<layer>": {"extent", "version", "ids", "count", "fields",
// "features": [{"id", "type", "properties"}]}}.
//
//   node tests/web/decode_tile.mjs FILE.mvt [--full]
//
// A gzip-compressed tile is inflated first. Needs scripts/install-test-tools.sh (.tools/node).
import {readFileSync} from 'node:fs';
import {gunzipSync} from 'node:zlib';
import path from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const mod = (name) => import(pathToFileURL(path.join(repo, '.tools', 'node', 'node_modules', name, 'index.js')).href);
let VectorTile, Pbf;
try {
    ({VectorTile} = await mod('@mapbox/vector-tile'));
    ({default: Pbf} = await mod('pbf'));
} catch (e) {
    console.error(`decode_tile: ${e.message}; run scripts/install-test-tools.sh`);
    process.exit(2);
}

const args = process.argv.slice(2);
const full = args.includes('--full');
const file = args.find((a) => !a.startsWith('--'));
if (!file) {
    console.error('usage: node tests/web/decode_tile.mjs FILE.mvt [--full]');
    process.exit(2);
}
let buf = readFileSync(file);
if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) buf = gunzipSync(buf);
const tile = new VectorTile(new Pbf(buf));
const TYPES = ['Unknown', 'Point', 'LineString', 'Polygon'];
const out = {};
for (const [name, layer] of Object.entries(tile.layers)) {
    const ids = [];
    const features = [];
    for (let i = 0; i < layer.length; i++) {
        const f = layer.feature(i);
        ids.push(f.id === undefined ? null : f.id);
        if (full) features.push({id: f.id ?? null, type: TYPES[f.type], properties: f.properties});
    }
    out[name] = full
        ? {extent: layer.extent, version: layer.version, ids, count: layer.length, fields: layer._keys, features}
        : ids;
}
console.log(JSON.stringify(out));
