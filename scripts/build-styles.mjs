#!/usr/bin/env node
// Builds styles/*.json (MapLibre style spec v8), the one source of colours for the vector tiles
// and the WMS renderer, from the definitions below and the land-use code list of
// core/src/family.rs (codes, Vietnamese and English names, official fill colours).
//
//   node scripts/build-styles.mjs           write styles/*.json
//   node scripts/build-styles.mjs --check   exit 1 when a committed file differs from the output
//
// Only the subset documented in styles/README.md is used: layer types fill, line, circle, symbol;
// expressions match, case, step, interpolate (on zoom), get, literal, coalesce, to-string, zoom,
// geometry-type. Placeholders the server fills in: {{base}} (its base URL), and in generic.json
// {{layers}} / {{layer}} (the layer id).
import {readFileSync, writeFileSync, mkdirSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FONT = ['Noto Sans Regular'];
const GLYPHS = '{{base}}/fonts/{fontstack}/{range}.pbf';
const CENTER = [106.4, 10.1];

// --- code lists ---------------------------------------------------------------------------------
const familyRs = readFileSync(path.join(repo, 'core/src/family.rs'), 'utf8');
const LAND_USE = [...familyRs.matchAll(
    /\blu\(\s*"([A-Z]+)",\s*"([A-Z]+)",\s*"([^"]*)",\s*"([^"]*)",\s*"(#[0-9A-Fa-f]{6})",?\s*\)/g,
)].map(([, code, group, vi, en, color]) => ({code, group, vi, en, color: color.toUpperCase()}));
if (LAND_USE.length < 40 || !LAND_USE.find((c) => c.code === 'LUC')) {
    throw new Error(`could not read the land-use code list from core/src/family.rs (${LAND_USE.length} codes)`);
}
const LU_DEFAULT = '#FFAAA0';

const SOIL = [
    {code: 'mặn', vi: 'Đất mặn (M, Mn, Mm)', en: 'Saline soils (Salic Fluvisols, Solonchaks)', color: '#B7B4E3'},
    {code: 'phù sa', vi: 'Đất phù sa (P, Pb, Pg)', en: 'Alluvial soils (Fluvisols, Gleysols)', color: '#BFDD7A'},
    {code: 'phèn', vi: 'Đất phèn (Sp1, Sp2, Sj1, Sj2)', en: 'Acid sulphate soils (Thionic Fluvisols)', color: '#D8A84E'},
    {code: 'cát', vi: 'Đất cát giồng (C)', en: 'Sandy ridge soils (Arenosols)', color: '#F6EBA8'},
];
const SOIL_DEFAULT = '#D9D9D9';

// Salinity classes of the live layer (salinity_latest), from the observation network file.
const networkToml = readFileSync(path.join(repo, 'data-samples/observations/network.toml'), 'utf8');
const SALINITY = [...networkToml.matchAll(
    /\{ below = [0-9.]+, code = "([a-z0-9_]+)", name_vi = "([^"]*)", name_en = "([^"]*)", colour = "(#[0-9a-fA-F]{6})" \}/g,
)].map(([, code, vi, en, color]) => ({code, vi, en, color: color.toUpperCase()}));
if (SALINITY.length < 4) throw new Error('could not read the salinity classes of data-samples/observations/network.toml');
const NO_READING = '#9E9E9E';

// Road classes (Road Law 2024, Art. 8). width: px at zoom 8 / 12 / 16 (the line itself).
const ROADS = [
    {code: 'QL', vi: 'Quốc lộ', en: 'National road', color: '#E5483F', casing: '#9E2A22', w: [2.2, 5, 14]},
    {code: 'DT', vi: 'Đường tỉnh', en: 'Provincial road', color: '#F39A32', casing: '#A9621A', w: [1.4, 3.6, 11]},
    {code: 'DH', vi: 'Đường huyện', en: 'District road', color: '#F7D558', casing: '#A88E2A', w: [0.8, 2.6, 8]},
    {code: 'DX', vi: 'Đường xã', en: 'Commune road', color: '#FFFFFF', casing: '#8C8C8C', w: [0.5, 1.8, 6]},
    {code: 'urban', vi: 'Đường đô thị', en: 'Urban road', color: '#C9C9C9', casing: '#8A8A8A', w: [0.5, 1.8, 6]},
    {code: 'thon', vi: 'Đường thôn', en: 'Village road', color: '#A6A6A6', casing: null, w: [0.3, 0.8, 3]},
    {code: 'special', vi: 'Đường chuyên dùng', en: 'Special-use road', color: '#7D6A8E', casing: null, w: [0.4, 1.2, 3.5]},
];

const WATER = [
    {code: 'sea', vi: 'Biển, cửa sông', en: 'Sea and estuaries', color: '#6FA8D6'},
    {code: 'river', vi: 'Sông', en: 'River', color: '#A9D3F2'},
    {code: 'lake', vi: 'Hồ', en: 'Lake', color: '#A9D3F2'},
    {code: 'canal', vi: 'Kênh', en: 'Canal', color: '#B6DBF5'},
];
const WATER_DEFAULT = '#A9D3F2';
// Lines: width at zoom 8 / 12 / 16.
const WATERWAYS = [
    {code: 'river', vi: 'Sông', en: 'River', color: '#3D8BD0', w: [1.2, 2.5, 6]},
    {code: 'canal', vi: 'Kênh', en: 'Canal', color: '#5CA7E0', w: [0.8, 1.6, 4]},
    {code: 'creek', vi: 'Rạch', en: 'Creek', color: '#7BBBE8', w: [0.5, 1, 2.5]},
];

const ADMIN = {
    province: {vi: 'Ranh giới tỉnh', en: 'Province boundary', color: '#4B1F73'},
    district: {vi: 'Ranh giới huyện', en: 'District boundary', color: '#7E57A8'},
    commune: {vi: 'Ranh giới xã', en: 'Commune boundary', color: '#B7A2D1'},
};

// Titles as in data-samples/samples.toml (the catalogue gives the served ones).
const TITLES = {
    admin_province: ['Ranh giới tỉnh (Bến Tre đến 30/6/2025, Vĩnh Long từ 1/7/2025)', 'Province boundary (Bến Tre until 30 June 2025, Vĩnh Long from 1 July 2025)'],
    admin_districts: ['Ranh giới huyện (2009)', 'District boundaries (2009)'],
    admin_communes: ['Ranh giới xã, phường, thị trấn (2009 và từ 1/7/2025)', 'Commune boundaries (2009 and from 1 July 2025)'],
    rivers_canals: ['Sông, kênh', 'Rivers and canals'],
    water_areas: ['Mặt nước sông và biển', 'River and sea water areas'],
    salinity_stations: ['Trạm quan trắc độ mặn', 'Salinity monitoring stations'],
    salinity_latest: ['Độ mặn mới nhất (trực tiếp)', 'Latest salinity (live)'],
    salinity_front: ['Ranh mặn trên các cửa sông (trực tiếp, nội suy)', 'Salinity fronts on the estuaries (live, interpolated)'],
    national_roads: ['Quốc lộ', 'National roads'],
    provincial_roads: ['Đường tỉnh, huyện, xã', 'Provincial, district and commune roads'],
    land_use: ['Hiện trạng sử dụng đất', 'Land use'],
    soil: ['Bản đồ thổ nhưỡng', 'Soil map'],
};

// --- helpers ------------------------------------------------------------------------------------
function meta(layer, legend, field) {
    const m = {'cuulong:layer': layer, 'cuulong:title_vi': TITLES[layer][0], 'cuulong:title_en': TITLES[layer][1]};
    if (legend) {
        m['cuulong:legend'] = legend;
        if (field) m['cuulong:legend_field'] = field;
    }
    return m;
}
/** ["match", input, v1, out1, ..., fallback], grouping values that share an output. */
function matchBy(input, entries, key, fallback) {
    const groups = new Map();
    for (const e of entries) {
        const out = e[key];
        if (!groups.has(out)) groups.set(out, []);
        groups.get(out).push(e.code);
    }
    const expr = ['match', input];
    for (const [out, codes] of groups) expr.push(codes.length === 1 ? codes[0] : codes, out);
    expr.push(fallback);
    return expr;
}
/** Line width by zoom (8, 12, 16) per class, interpolated exponentially. */
function widthByZoom(input, entries, extra = 0) {
    const at = (i) => {
        const e = ['match', input];
        for (const r of entries) e.push(r.code, +(r.w[i] + extra).toFixed(2));
        e.push(+(entries[entries.length - 1].w[i] + extra).toFixed(2));
        return e;
    };
    return ['interpolate', ['exponential', 1.5], ['zoom'], 8, at(0), 12, at(1), 16, at(2)];
}
const legend = (entries) => entries.map(({code, vi, en, color, casing}) => (casing && color === '#FFFFFF'
    ? {code, vi, en, color, outline: casing} : {code, vi, en, color}));
const halo = (color = '#FFFFFF', width = 1.4) => ({'text-halo-color': color, 'text-halo-width': width});
const isPolygon = ['match', ['geometry-type'], ['Polygon', 'MultiPolygon'], true, false];
const isLine = ['match', ['geometry-type'], ['LineString', 'MultiLineString'], true, false];
const isPoint = ['match', ['geometry-type'], ['Point', 'MultiPoint'], true, false];

function style(name, titleVi, titleEn, ids, layers, extra = {}) {
    return {
        version: 8,
        name,
        metadata: {'cuulong:title_vi': titleVi, 'cuulong:title_en': titleEn, 'cuulong:layers': ids},
        center: CENTER,
        zoom: 9,
        glyphs: GLYPHS,
        sources: {cuulong: {type: 'vector', url: `{{base}}/tiles/${ids.join(',')}.json`}},
        layers,
        ...extra,
    };
}

// --- layers per family (split into base layers and labels so bentre.json can order them) ---------
function landUse() {
    const id = 'land_use';
    const lu = LAND_USE.map(({code, vi, en, color, group}) => ({code, vi, en, color, group}));
    return {
        base: [
            {
                id: 'land_use-fill', type: 'fill', source: 'cuulong', 'source-layer': id,
                metadata: meta(id, lu, 'lu_code'),
                paint: {'fill-color': matchBy(['get', 'lu_code'], LAND_USE, 'color', LU_DEFAULT), 'fill-opacity': 1},
            },
            {
                id: 'land_use-outline', type: 'line', source: 'cuulong', 'source-layer': id, minzoom: 12,
                metadata: meta(id),
                layout: {'line-join': 'round'},
                paint: {
                    'line-color': '#9C8466',
                    'line-width': ['interpolate', ['linear'], ['zoom'], 12, 0.2, 14, 0.5, 17, 1],
                    'line-opacity': ['interpolate', ['linear'], ['zoom'], 12, 0.3, 14, 0.7],
                },
            },
        ],
        labels: [
            {
                id: 'land_use-label', type: 'symbol', source: 'cuulong', 'source-layer': id, minzoom: 14,
                metadata: meta(id),
                layout: {
                    'text-field': ['to-string', ['get', 'lu_code']], 'text-font': FONT,
                    'text-size': ['interpolate', ['linear'], ['zoom'], 14, 10, 17, 13],
                    'text-padding': 2,
                },
                paint: {'text-color': '#5A4632', ...halo('#FFFFFF', 1.2)},
            },
        ],
    };
}

function soil(visible = true) {
    const id = 'soil';
    const vis = visible ? {} : {visibility: 'none'};
    return {
        base: [
            {
                id: 'soil-fill', type: 'fill', source: 'cuulong', 'source-layer': id,
                metadata: meta(id, legend(SOIL), 'soil_group'),
                layout: {...vis},
                paint: {'fill-color': matchBy(['get', 'soil_group'], SOIL, 'color', SOIL_DEFAULT), 'fill-opacity': 0.85},
            },
            {
                id: 'soil-outline', type: 'line', source: 'cuulong', 'source-layer': id, minzoom: 10,
                metadata: meta(id),
                layout: {'line-join': 'round', ...vis},
                paint: {
                    'line-color': '#7A6A50',
                    'line-width': ['interpolate', ['linear'], ['zoom'], 10, 0.2, 14, 0.8],
                    'line-opacity': 0.6,
                },
            },
        ],
        labels: [
            {
                id: 'soil-label', type: 'symbol', source: 'cuulong', 'source-layer': id, minzoom: 12,
                metadata: meta(id),
                layout: {
                    'text-field': ['to-string', ['get', 'vn_soil_code']], 'text-font': FONT,
                    'text-size': ['interpolate', ['linear'], ['zoom'], 12, 10, 16, 13], ...vis,
                },
                paint: {'text-color': '#4A3B28', ...halo('#FFFFFF', 1.2)},
            },
        ],
    };
}

function roads(id) {
    const cls = ['get', 'road_class'];
    const notSpecial = ['match', cls, 'special', false, true];
    const cased = ROADS.filter((r) => r.casing);
    const bridge = ['match', ['to-string', ['get', 'bridge']], ['true', '1'], true, false];
    // Minor classes fade in: village roads from zoom 10 to 11.5, commune and urban roads 8.5 to 10.
    const opacity = ['interpolate', ['linear'], ['zoom'],
        8.5, ['match', cls, 'thon', 0, ['DX', 'urban', 'special'], 0.25, 1],
        10, ['match', cls, 'thon', 0, 1],
        11.5, 1];
    const legendRoads = id === 'national_roads' ? ROADS.filter((r) => ['QL', 'DT'].includes(r.code)) : ROADS;
    return {
        base: [
            {
                id: `${id}-casing`, type: 'line', source: 'cuulong', 'source-layer': id,
                metadata: meta(id),
                filter: ['match', cls, cased.map((r) => r.code), true, false],
                layout: {'line-join': 'round', 'line-cap': 'round'},
                paint: {
                    'line-color': matchBy(cls, cased, 'casing', '#8C8C8C'),
                    'line-width': widthByZoom(cls, cased, 1.5),
                    'line-opacity': opacity,
                },
            },
            {
                id: `${id}-bridge`, type: 'line', source: 'cuulong', 'source-layer': id, minzoom: 12,
                metadata: meta(id),
                filter: bridge,
                layout: {'line-join': 'round', 'line-cap': 'butt'},
                paint: {'line-color': '#3C3C3C', 'line-width': widthByZoom(cls, ROADS, 3)},
            },
            {
                id: `${id}-line`, type: 'line', source: 'cuulong', 'source-layer': id,
                metadata: meta(id, legend(legendRoads), 'road_class'),
                filter: notSpecial,
                layout: {'line-join': 'round', 'line-cap': 'round'},
                paint: {
                    'line-color': matchBy(cls, ROADS, 'color', '#A6A6A6'),
                    'line-width': widthByZoom(cls, ROADS),
                    'line-opacity': opacity,
                },
            },
            {
                id: `${id}-special`, type: 'line', source: 'cuulong', 'source-layer': id,
                metadata: meta(id),
                filter: ['match', cls, 'special', true, false],
                layout: {'line-join': 'round', 'line-cap': 'butt'},
                paint: {
                    'line-color': ROADS.find((r) => r.code === 'special').color,
                    'line-width': widthByZoom(cls, ROADS),
                    'line-opacity': opacity,
                    'line-dasharray': ['literal', [3, 2]],
                },
            },
        ],
        labels: [
            {
                id: `${id}-label`, type: 'symbol', source: 'cuulong', 'source-layer': id, minzoom: 11,
                metadata: meta(id),
                layout: {
                    'symbol-placement': 'line',
                    'text-field': ['to-string', ['coalesce', ['get', 'ref'], ['get', 'name']]],
                    'text-font': FONT,
                    'text-size': ['interpolate', ['linear'], ['zoom'], 11, 10, 16, 13],
                    'symbol-spacing': 300,
                    'text-max-angle': 35,
                },
                paint: {'text-color': '#333333', ...halo('#FFFFFF', 1.6)},
            },
        ],
    };
}

function waterAreas() {
    const id = 'water_areas';
    return {
        base: [{
            id: 'water_areas-fill', type: 'fill', source: 'cuulong', 'source-layer': id,
            metadata: meta(id, legend(WATER), 'kind'),
            paint: {'fill-color': matchBy(['get', 'kind'], WATER, 'color', WATER_DEFAULT), 'fill-opacity': 1},
        }],
        labels: [],
    };
}

function rivers() {
    const id = 'rivers_canals';
    const kind = ['get', 'kind'];
    return {
        base: [{
            id: 'rivers_canals-line', type: 'line', source: 'cuulong', 'source-layer': id,
            metadata: meta(id, legend(WATERWAYS), 'kind'),
            layout: {'line-join': 'round', 'line-cap': 'round'},
            paint: {'line-color': matchBy(kind, WATERWAYS, 'color', '#5CA7E0'), 'line-width': widthByZoom(kind, WATERWAYS)},
        }],
        labels: [{
            id: 'rivers_canals-label', type: 'symbol', source: 'cuulong', 'source-layer': id, minzoom: 11,
            metadata: meta(id),
            layout: {
                'symbol-placement': 'line', 'text-field': ['to-string', ['coalesce', ['get', 'name'], '']],
                'text-font': FONT, 'text-size': 12,
            },
            paint: {'text-color': '#1F5F99', ...halo('#FFFFFF', 1.2)},
        }],
    };
}

function stations() {
    const id = 'salinity_stations';
    return {
        base: [{
            id: 'salinity_stations-circle', type: 'circle', source: 'cuulong', 'source-layer': id,
            metadata: meta(id, [{code: 'station', vi: 'Trạm quan trắc độ mặn', en: 'Salinity station', color: '#C2185B'}], 'kind'),
            paint: {
                'circle-radius': ['interpolate', ['linear'], ['zoom'], 8, 4, 12, 6, 16, 9],
                'circle-color': '#C2185B',
                'circle-stroke-color': '#FFFFFF',
                'circle-stroke-width': 1.5,
            },
        }],
        labels: [{
            id: 'salinity_stations-label', type: 'symbol', source: 'cuulong', 'source-layer': id,
            metadata: meta(id),
            layout: {
                'text-field': ['step', ['zoom'],
                    ['to-string', ['get', 'station_code']],
                    12, ['to-string', ['coalesce', ['get', 'name'], ['get', 'station_code']]]],
                'text-font': FONT, 'text-size': 12, 'text-anchor': 'left', 'text-offset': ['literal', [0.8, 0]],
                'text-allow-overlap': false,
            },
            paint: {'text-color': '#7A0F3A', ...halo('#FFFFFF', 1.6)},
        }],
    };
}

/** The live layer: each station's latest salinity, coloured by its class (crop limits). */
function salinityLive() {
    const id = 'salinity_latest';
    const legend = [...SALINITY, {code: '–', vi: 'Chưa có số đo', en: 'No reading yet', color: NO_READING}];
    return {
        base: [{
            id: 'salinity_latest-circle', type: 'circle', source: 'live', 'source-layer': id,
            metadata: meta(id, legend, 'class_code'),
            paint: {
                'circle-radius': ['interpolate', ['linear'], ['zoom'], 8, 7, 12, 10, 16, 14],
                'circle-color': matchBy(['get', 'class_code'], SALINITY, 'color', NO_READING),
                'circle-stroke-color': '#263238',
                'circle-stroke-width': 1.5,
            },
        }],
        labels: [{
            id: 'salinity_latest-label', type: 'symbol', source: 'live', 'source-layer': id,
            metadata: meta(id),
            layout: {
                'text-field': ['to-string', ['coalesce', ['get', 'label'], ['get', 'station_code']]],
                'text-font': FONT, 'text-size': 12, 'text-anchor': 'top', 'text-offset': ['literal', [0, 1.1]],
                'text-allow-overlap': false,
            },
            paint: {'text-color': '#263238', ...halo('#FFFFFF', 1.6)},
        }],
    };
}

/** The salinity fronts: where 1‰ and 4‰ stand on each estuary (interpolated, live). */
const FRONTS = [
    {code: '1‰', vi: 'Ranh mặn 1‰: hại sầu riêng, rau', en: '1‰ front: harms durian, vegetables', color: '#7B3294'},
    {code: '4‰', vi: 'Ranh mặn 4‰: hại lúa, cây ăn trái', en: '4‰ front: harms rice, fruit trees', color: '#D7191C'},
];
function salinityFront() {
    const id = 'salinity_front';
    return {
        base: [{
            id: 'salinity_front-circle', type: 'circle', source: 'live', 'source-layer': id,
            metadata: meta(id, FRONTS, 'front'),
            paint: {
                'circle-radius': ['interpolate', ['linear'], ['zoom'], 8, 11, 12, 15, 16, 19],
                'circle-color': matchBy(['get', 'front'], FRONTS, 'color', '#555555'),
                'circle-stroke-color': '#FFFFFF',
                'circle-stroke-width': 2.5,
            },
        }],
        labels: [{
            id: 'salinity_front-label', type: 'symbol', source: 'live', 'source-layer': id,
            metadata: meta(id),
            layout: {
                'text-field': ['to-string', ['coalesce', ['get', 'label'], ['get', 'front']]],
                'text-font': FONT, 'text-size': 11, 'text-anchor': 'left', 'text-offset': ['literal', [0.9, 0]],
                'text-max-width': 14, 'text-allow-overlap': false,
            },
            paint: {'text-color': matchBy(['get', 'front'], FRONTS, 'color', '#555555'), ...halo('#FFFFFF', 1.8)},
        }],
    };
}

function admin() {
    const hit = (id) => ({
        // Invisible fill: makes the whole unit clickable for the attribute popup; draws nothing.
        id: `${id}-hit`, type: 'fill', source: 'cuulong', 'source-layer': id, metadata: meta(id),
        paint: {'fill-color': '#000000', 'fill-opacity': 0},
    });
    const lvl = (level) => [{code: level, ...ADMIN[level]}];
    return {
        hits: [hit('admin_communes'), hit('admin_districts'), hit('admin_province')],
        base: [
            {
                id: 'admin_communes-line', type: 'line', source: 'cuulong', 'source-layer': 'admin_communes',
                metadata: meta('admin_communes', lvl('commune'), 'level'),
                layout: {'line-join': 'round', 'line-cap': 'round'},
                paint: {
                    'line-color': ADMIN.commune.color,
                    'line-width': ['interpolate', ['linear'], ['zoom'], 8, 0.5, 12, 1, 16, 1.6],
                    'line-dasharray': ['literal', [0.5, 2]],
                },
            },
            {
                id: 'admin_districts-line', type: 'line', source: 'cuulong', 'source-layer': 'admin_districts',
                metadata: meta('admin_districts', lvl('district'), 'level'),
                layout: {'line-join': 'round'},
                paint: {
                    'line-color': ADMIN.district.color,
                    'line-width': ['interpolate', ['linear'], ['zoom'], 8, 1.2, 12, 2, 16, 3],
                    'line-dasharray': ['literal', [4, 2]],
                },
            },
            {
                id: 'admin_province-line', type: 'line', source: 'cuulong', 'source-layer': 'admin_province',
                metadata: meta('admin_province', lvl('province'), 'level'),
                layout: {'line-join': 'round'},
                paint: {
                    'line-color': ADMIN.province.color,
                    'line-width': ['interpolate', ['linear'], ['zoom'], 6, 1.5, 10, 3, 16, 5],
                },
            },
        ],
        labels: [
            {
                id: 'admin_communes-label', type: 'symbol', source: 'cuulong', 'source-layer': 'admin_communes',
                minzoom: 11, metadata: meta('admin_communes'),
                layout: {'text-field': ['to-string', ['get', 'name']], 'text-font': FONT, 'text-size': 11, 'text-max-width': 8},
                paint: {'text-color': '#6B5688', ...halo()},
            },
            {
                id: 'admin_districts-label', type: 'symbol', source: 'cuulong', 'source-layer': 'admin_districts',
                minzoom: 8.5, maxzoom: 12, metadata: meta('admin_districts'),
                layout: {
                    'text-field': ['to-string', ['get', 'name']], 'text-font': FONT,
                    'text-size': ['interpolate', ['linear'], ['zoom'], 9, 12, 11, 15], 'text-max-width': 8,
                },
                paint: {'text-color': '#4B2D6E', ...halo('#FFFFFF', 1.8)},
            },
            {
                id: 'admin_province-label', type: 'symbol', source: 'cuulong', 'source-layer': 'admin_province',
                maxzoom: 9, metadata: meta('admin_province'),
                layout: {'text-field': ['to-string', ['get', 'name']], 'text-font': FONT, 'text-size': 16},
                paint: {'text-color': '#3A1760', ...halo('#FFFFFF', 2)},
            },
        ],
    };
}

function generic() {
    const m = {'cuulong:layer': '{{layer}}', 'cuulong:title_vi': '{{layer}}', 'cuulong:title_en': '{{layer}}'};
    const base = {source: 'cuulong', 'source-layer': '{{layer}}'};
    return [
        {
            id: 'generic-fill', type: 'fill', ...base, filter: isPolygon,
            metadata: {...m, 'cuulong:legend': [
                {code: 'Polygon', vi: 'Vùng', en: 'Area', color: '#B8B8B8'},
                {code: 'LineString', vi: 'Đường', en: 'Line', color: '#505A64'},
                {code: 'Point', vi: 'Điểm', en: 'Point', color: '#2F6690'},
            ], 'cuulong:legend_field': '$geometry_type'},
            paint: {'fill-color': '#B8B8B8', 'fill-opacity': 0.55},
        },
        {
            id: 'generic-outline', type: 'line', ...base, filter: isPolygon, metadata: m,
            paint: {'line-color': '#6E6E6E', 'line-width': ['interpolate', ['linear'], ['zoom'], 8, 0.4, 16, 1.2]},
        },
        {
            id: 'generic-line', type: 'line', ...base, filter: isLine, metadata: m,
            layout: {'line-join': 'round', 'line-cap': 'round'},
            paint: {'line-color': '#505A64', 'line-width': ['interpolate', ['linear'], ['zoom'], 8, 1, 16, 3]},
        },
        {
            id: 'generic-point', type: 'circle', ...base, filter: isPoint, metadata: m,
            paint: {
                'circle-radius': ['interpolate', ['linear'], ['zoom'], 8, 3, 16, 7],
                'circle-color': '#2F6690', 'circle-stroke-color': '#FFFFFF', 'circle-stroke-width': 1,
            },
        },
    ];
}

// --- the styles ---------------------------------------------------------------------------------
function build() {
    const out = {};
    const lu = landUse();
    out.land_use = style('cuulong land_use', 'Hiện trạng sử dụng đất', 'Land use', ['land_use'],
        [...lu.base, ...lu.labels]);
    const so = soil(true);
    out.soil = style('cuulong soil', 'Thổ nhưỡng', 'Soil', ['soil'], [...so.base, ...so.labels]);
    const pr = roads('provincial_roads');
    const nr = roads('national_roads');
    // Lower classes below national roads: each pass (casing, bridge, line, dashes) per layer.
    const roadBase = (a, b) => a.base.flatMap((l, i) => [l, b.base[i]]);
    out.transport = style('cuulong transport', 'Giao thông', 'Transport', ['provincial_roads', 'national_roads'],
        [...roadBase(pr, nr), ...pr.labels, ...nr.labels]);
    const wa = waterAreas();
    const rv = rivers();
    const st = stations();
    out.hydrology = style('cuulong hydrology', 'Thủy văn', 'Hydrology', ['water_areas', 'rivers_canals', 'salinity_stations'],
        [...wa.base, ...rv.base, ...st.base, ...rv.labels, ...st.labels]);
    const ad = admin();
    out.admin = style('cuulong admin', 'Địa giới hành chính', 'Administrative boundaries',
        ['admin_province', 'admin_districts', 'admin_communes'], [...ad.hits, ...ad.base, ...ad.labels.slice().reverse()]);
    out.generic = style('cuulong generic', 'Lớp dữ liệu', 'Data layer', ['{{layers}}'], generic());
    out.generic.metadata['cuulong:layers'] = ['{{layer}}'];
    const soHidden = soil(false);
    const ids = ['water_areas', 'land_use', 'soil', 'admin_communes', 'admin_districts', 'admin_province',
        'rivers_canals', 'provincial_roads', 'national_roads', 'salinity_stations'];
    const live = salinityLive();
    const fronts = salinityFront();
    // The live layers have a source of their own: they change every few seconds, the others
    // seldom. (The fronts exist only on a server given salinity rules; the server drops what
    // it does not serve from the style.)
    const liveSource = {sources: {
        cuulong: {type: 'vector', url: `{{base}}/tiles/${ids.join(',')}.json`},
        live: {type: 'vector', url: '{{base}}/tiles/salinity_latest,salinity_front.json'},
    }};
    out.bentre = style('cuulong Bến Tre', 'Bản đồ tỉnh Bến Tre', 'Bến Tre province map', ids, [
        ...wa.base,
        ...lu.base,
        ...soHidden.base,
        ...ad.hits,
        ...ad.base,
        ...rv.base,
        ...roadBase(pr, nr),
        ...st.base,
        // Fronts under the stations: a front that sits on a station (beyond the last one
        // upstream) rings it instead of hiding its colour.
        ...fronts.base,
        ...live.base,
        // labels, least important first (MapLibre places later layers' labels first)
        ...lu.labels, ...soHidden.labels, ...rv.labels, ...pr.labels, ...nr.labels,
        ...ad.labels, ...st.labels, ...live.labels, ...fronts.labels,
    ], liveSource);
    return out;
}

const check = process.argv.includes('--check');
const styles = build();
let stale = 0;
mkdirSync(path.join(repo, 'styles'), {recursive: true});
for (const [name, s] of Object.entries(styles)) {
    const file = path.join(repo, 'styles', `${name}.json`);
    const text = `${JSON.stringify(s, null, 2)}\n`;
    if (check) {
        let old = '';
        try { old = readFileSync(file, 'utf8'); } catch { /* missing */ }
        if (old !== text) {
            console.error(`styles/${name}.json is not what scripts/build-styles.mjs makes (run it)`);
            stale++;
        }
    } else {
        writeFileSync(file, text);
        console.log(`styles/${name}.json: ${s.layers.length} style layers`);
    }
}
if (stale) process.exit(1);
