#!/usr/bin/env node
// Makes the SDF glyph ranges (MapLibre "glyphs" PBFs) the web map's labels use, from an openly
// licensed TrueType font, in pure JavaScript (opentype.js parses the font; no native build).
//
//   node scripts/make-glyphs.mjs [FONT.ttf] [OUT_DIR] [--all | RANGE_START ...]
//
// Defaults: Debian's fonts-noto-core NotoSans-Regular.ttf → tile-server/web/fonts/Noto Sans Regular/
// and the 256-code-point ranges Vietnamese text needs (Latin-1, Latin Extended-A/B, combining
// marks, Latin Extended Additional U+1EA0–U+1EF9, punctuation such as – ‰ “ ”, letterlike
// symbols). `--all` writes every range the font has a glyph in.
// opentype.js comes from .tools/glyphs (installed here on first use, npm).
//
// The output follows node-fontnik / sdf-glyph-foundry exactly, so MapLibre lays it out like any
// glyph server's: 24 px em, 3 px buffer, 8 px radius, cutoff 0.25, `top` = bbox top − ascender,
// distances to the flattened outline (exact, not a raster transform); inside/outside by the
// non-zero winding rule (fontnik uses even-odd; the same for fonts without overlapping contours).
import {mkdirSync, writeFileSync, existsSync} from 'node:fs';
import {createRequire} from 'node:module';
import {execFileSync} from 'node:child_process';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const toolDir = path.join(repo, '.tools', 'glyphs');
if (!existsSync(path.join(toolDir, 'node_modules', 'opentype.js'))) {
    mkdirSync(toolDir, {recursive: true});
    if (!existsSync(path.join(toolDir, 'package.json'))) {
        writeFileSync(path.join(toolDir, 'package.json'), '{"name":"cuulong-glyph-tools","private":true}\n');
    }
    execFileSync('npm', ['install', '--prefix', toolDir, '--no-audit', '--no-fund', '--loglevel=error',
        '--save-exact', 'opentype.js@1.3.4'], {stdio: 'inherit'});
}
const opentype = createRequire(path.join(toolDir, 'package.json'))('opentype.js');

const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith('--'));
const pos = args.filter((a) => !a.startsWith('--'));
const fontFile = pos[0] ?? '/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf';
if (!existsSync(fontFile)) {
    console.error(`make-glyphs: no font ${fontFile} (Debian: apt-get install fonts-noto-core)`);
    process.exit(1);
}
const font = opentype.loadSync(fontFile);
const stackName = `${font.names.fontFamily.en} ${font.names.fontSubfamily.en}`;
const outDir = pos[1] ?? path.join(repo, 'tile-server', 'web', 'fonts', stackName);
const DEFAULT_RANGES = [0, 256, 512, 768, 7680, 8192, 8448];

const SIZE = 24;
const BUFFER = 3;
const RADIUS = 8;
const CUTOFF = 0.25;
const scale = SIZE / font.unitsPerEm;
// FreeType's scaled size metrics: ascender rounded up to whole pixels (FT_PIX_CEIL).
const ascender = Math.ceil(font.tables.hhea.ascender * scale - 1e-9);

// --- outline → rings of points (pixels, y up) ----------------------------------------------
function rings(glyph) {
    const out = [];
    let ring = null;
    let cx = 0;
    let cy = 0;
    const close = () => {
        if (ring && ring.length > 1) {
            const [fx, fy] = ring[0];
            const [lx, ly] = ring[ring.length - 1];
            if (fx !== lx || fy !== ly) ring.push([fx, fy]);
            out.push(ring);
        }
        ring = null;
    };
    const steps = 8;
    for (const c of glyph.path.commands) {
        if (c.type === 'M') {
            close();
            ring = [[c.x * scale, c.y * scale]];
            [cx, cy] = [c.x, c.y];
        } else if (c.type === 'L') {
            ring.push([c.x * scale, c.y * scale]);
            [cx, cy] = [c.x, c.y];
        } else if (c.type === 'Q') {
            for (let i = 1; i <= steps; i++) {
                const t = i / steps;
                const a = (1 - t) * (1 - t);
                const b = 2 * (1 - t) * t;
                const d = t * t;
                ring.push([(a * cx + b * c.x1 + d * c.x) * scale, (a * cy + b * c.y1 + d * c.y) * scale]);
            }
            [cx, cy] = [c.x, c.y];
        } else if (c.type === 'C') {
            for (let i = 1; i <= steps; i++) {
                const t = i / steps;
                const u = 1 - t;
                const a = u * u * u;
                const b = 3 * u * u * t;
                const e = 3 * u * t * t;
                const d = t * t * t;
                ring.push([(a * cx + b * c.x1 + e * c.x2 + d * c.x) * scale,
                    (a * cy + b * c.y1 + e * c.y2 + d * c.y) * scale]);
            }
            [cx, cy] = [c.x, c.y];
        } else if (c.type === 'Z') {
            close();
        }
    }
    close();
    return out;
}

function segDist2(px, py, ax, ay, bx, by) {
    const dx = bx - ax;
    const dy = by - ay;
    const l2 = dx * dx + dy * dy;
    let t = l2 === 0 ? 0 : ((px - ax) * dx + (py - ay) * dy) / l2;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    const qx = ax + t * dx - px;
    const qy = ay + t * dy - py;
    return qx * qx + qy * qy;
}

function winding(segs, px, py) {
    let w = 0;
    for (let i = 0; i < segs.length; i += 4) {
        const ax = segs[i], ay = segs[i + 1], bx = segs[i + 2], by = segs[i + 3];
        if (ay <= py) {
            if (by > py && (bx - ax) * (py - ay) - (px - ax) * (by - ay) > 0) w++;
        } else if (by <= py && (bx - ax) * (py - ay) - (px - ax) * (by - ay) < 0) {
            w--;
        }
    }
    return w;
}

/** One glyph in fontnik's metrics and bitmap layout, or null when the font lacks it. */
function renderGlyph(cp) {
    const glyph = font.charToGlyph(String.fromCodePoint(cp));
    if (!glyph || glyph.index === 0) return null;
    // FreeType horiAdvance (26.6, unhinted) / 64 with integer division.
    const advance = Math.floor(Math.round(glyph.advanceWidth * scale * 64) / 64);
    const rs = rings(glyph);
    const g = {id: cp, bitmap: null, width: 0, height: 0, left: 0, top: -ascender, advance};
    if (!rs.length) return g;
    let xmin = Infinity, ymin = Infinity, xmax = -Infinity, ymax = -Infinity;
    for (const r of rs) for (const [x, y] of r) {
        if (x < xmin) xmin = x;
        if (x > xmax) xmax = x;
        if (y < ymin) ymin = y;
        if (y > ymax) ymax = y;
    }
    [xmin, ymin, xmax, ymax] = [Math.round(xmin), Math.round(ymin), Math.round(xmax), Math.round(ymax)];
    if (xmax - xmin === 0 || ymax - ymin === 0) return g;
    g.left = xmin;
    g.top = ymax - ascender;
    g.width = xmax - xmin;
    g.height = ymax - ymin;
    const segs = [];
    for (const r of rs) {
        for (let i = 0; i + 1 < r.length; i++) {
            segs.push(r[i][0] - xmin + BUFFER, r[i][1] - ymin + BUFFER,
                r[i + 1][0] - xmin + BUFFER, r[i + 1][1] - ymin + BUFFER);
        }
    }
    const bw = g.width + 2 * BUFFER;
    const bh = g.height + 2 * BUFFER;
    const bitmap = new Uint8Array(bw * bh);
    const r2 = RADIUS * RADIUS;
    for (let y = 0; y < bh; y++) {
        for (let x = 0; x < bw; x++) {
            const px = x + 0.5;
            const py = y + 0.5;
            let best = Infinity;
            for (let i = 0; i < segs.length; i += 4) {
                const d2 = segDist2(px, py, segs[i], segs[i + 1], segs[i + 2], segs[i + 3]);
                if (d2 < best && d2 < r2) best = d2;
            }
            let d = Math.sqrt(best) * (256 / RADIUS);
            if (winding(segs, px, py) !== 0) d = -d;
            d += CUTOFF * 256;
            let n = d > 255 ? 255 : Math.trunc(d);
            n = n < 0 ? 0 : n;
            bitmap[(bh - y - 1) * bw + x] = 255 - n;
        }
    }
    g.bitmap = bitmap;
    return g;
}

// --- a minimal protobuf writer for glyphs.proto ---------------------------------------------
class Writer {
    constructor() { this.bytes = []; }
    varint(v) {
        v = Math.floor(v);
        while (v > 0x7f) { this.bytes.push((v & 0x7f) | 0x80); v = Math.floor(v / 128); }
        this.bytes.push(v);
    }
    tag(field, wire) { this.varint(field * 8 + wire); }
    uint(field, v) { this.tag(field, 0); this.varint(v); }
    sint(field, v) { this.tag(field, 0); this.varint(v >= 0 ? 2 * v : -2 * v - 1); }
    lenDelim(field, data) { this.tag(field, 2); this.varint(data.length); for (const b of data) this.bytes.push(b); }
    string(field, s) { this.lenDelim(field, Buffer.from(s, 'utf8')); }
    message(field, w) { this.lenDelim(field, w.bytes); }
}

function rangePbf(start) {
    const end = start + 255;
    const stack = new Writer();
    stack.string(1, stackName);
    stack.string(2, `${start}-${end}`);
    let count = 0;
    for (let cp = start; cp <= end; cp++) {
        const g = renderGlyph(cp);
        if (!g) continue;
        const w = new Writer();
        w.uint(1, g.id);
        if (g.width > 0) w.lenDelim(2, g.bitmap);
        w.uint(3, g.width);
        w.uint(4, g.height);
        w.sint(5, g.left);
        w.sint(6, g.top);
        w.uint(7, g.advance);
        stack.message(3, w);
        count++;
    }
    const top = new Writer();
    top.message(1, stack);
    return {bytes: Buffer.from(top.bytes), count};
}

let starts;
if (flags.includes('--all')) {
    const seen = new Set();
    for (const cp of Object.keys(font.tables.cmap.glyphIndexMap).map(Number)) {
        if (cp <= 0xffff) seen.add(cp - (cp % 256));
    }
    starts = [...seen].sort((a, b) => a - b);
} else {
    starts = pos.slice(2).map(Number);
    if (!starts.length) starts = DEFAULT_RANGES;
}
mkdirSync(outDir, {recursive: true});
let total = 0;
for (const start of starts) {
    const {bytes, count} = rangePbf(start);
    const file = path.join(outDir, `${start}-${start + 255}.pbf`);
    writeFileSync(file, bytes);
    total += bytes.length;
    console.log(`${path.relative(repo, file)}: ${count} glyphs, ${bytes.length} bytes`);
}
console.log(`fontstack "${stackName}" from ${fontFile}: ${starts.length} ranges, ${total} bytes`);
