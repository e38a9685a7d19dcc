#!/usr/bin/env node
// Opens the web map in headless Debian chromium (playwright-core), waits until the page reports
// window.cuulongStatus.loaded (max 60 s), takes a full-page screenshot and prints one JSON line:
//   {"loaded":true,"layers":N,"console_errors":[...],"status_errors":[...]}
// Exit 0 only when the map loaded with no console error, no page error and no map error event.
//
//   node tests/web/map_check.mjs http://127.0.0.1:PORT/map OUT.png
//
// Needs scripts/install-test-tools.sh (.tools/node: playwright-core; /usr/bin/chromium).
// CHROMIUM=/path overrides the browser; MAP_CHECK_TIMEOUT_MS the wait (default 60000).
import {createRequire} from 'node:module';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(path.join(repo, '.tools', 'node', 'package.json'));
let chromium;
try {
    ({chromium} = require('playwright-core'));
} catch {
    console.error('map_check: playwright-core missing; run scripts/install-test-tools.sh');
    process.exit(2);
}

const [url, out] = process.argv.slice(2);
if (!url || !out) {
    console.error('usage: node tests/web/map_check.mjs URL OUT.png');
    process.exit(2);
}
const timeout = Number(process.env.MAP_CHECK_TIMEOUT_MS || 60000);
const userDataDir = mkdtempSync(path.join(tmpdir(), 'cuulong-chromium-'));
const consoleErrors = [];
const result = {loaded: false, layers: 0, console_errors: consoleErrors, status_errors: []};
let context;
let code = 1;
try {
    context = await chromium.launchPersistentContext(userDataDir, {
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        headless: true,
        viewport: {width: 1280, height: 900},
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--enable-unsafe-swiftshader',
            '--disable-background-networking', '--disable-component-update', '--disable-sync',
            '--no-first-run', '--disable-quic'],
    });
    const page = context.pages()[0] ?? await context.newPage();
    page.on('console', (m) => {
        if (m.type() === 'error') {
            const loc = m.location();
            consoleErrors.push(m.text() + (loc && loc.url ? ` (${loc.url})` : ''));
        }
    });
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    page.on('requestfailed', (r) => {
        // An SSE stream cut when the page closes is not an error of the page.
        if (!r.url().endsWith('/events')) consoleErrors.push(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ''}`);
    });
    await page.goto(url, {waitUntil: 'load', timeout});
    try {
        // The page sets window.cuulongStatus synchronously: without it this is not the map page.
        await page.waitForFunction(() => !window.cuulongStatus || window.cuulongStatus.loaded === true,
            null, {timeout, polling: 200});
        if (!(await page.evaluate(() => !!window.cuulongStatus))) consoleErrors.push('no window.cuulongStatus: not the map page');
    } catch (e) {
        consoleErrors.push(`timeout: map not loaded after ${timeout} ms`);
    }
    // MAP_CHECK_DATES=2025-06-30,…: the admin units drawn today and on each day of the date
    // control, as {"": [names], "2025-06-30": [names]} in `admin_names`.
    if (process.env.MAP_CHECK_DATES && await page.evaluate(() => !!window.cuulongSetDate)) {
        const layer = process.env.MAP_CHECK_ADMIN_LAYER || 'admin_communes';
        result.admin_names = {'': await page.evaluate((l) => window.cuulongAdminNames(l), layer)};
        for (const day of process.env.MAP_CHECK_DATES.split(',')) {
            await page.evaluate((d) => window.cuulongSetDate(d), day);
            await page.waitForFunction(() => window.cuulongStatus.loaded === true, null, {timeout, polling: 200});
            result.admin_names[day] = await page.evaluate((l) => window.cuulongAdminNames(l), layer);
        }
        await page.evaluate(() => window.cuulongSetDate(''));
        await page.waitForFunction(() => window.cuulongStatus.loaded === true, null, {timeout, polling: 200});
    }
    // MAP_CHECK_LIVE=STATION_CODE: wait for the live stations, click that one and wait for its
    // 7-day chart; `live` = {stations, charts} (stations drawn, charts drawn).
    if (process.env.MAP_CHECK_LIVE) {
        const code = process.env.MAP_CHECK_LIVE;
        // The province filling the view, its stations away from the edges.
        await page.evaluate(() => window.cuulongMap.jumpTo({center: [106.55, 10.12], zoom: 9.4}));
        await page.waitForFunction(() => window.cuulongMap.loaded() && window.cuulongMap.areTilesLoaded(),
            null, {timeout, polling: 200});
        await page.waitForFunction(() => window.cuulongMap.queryRenderedFeatures({layers: ['salinity_latest-circle']}).length > 0,
            null, {timeout, polling: 200});
        const point = await page.evaluate((c) => {
            const m = window.cuulongMap;
            const f = m.queryRenderedFeatures({layers: ['salinity_latest-circle']}).find((x) => x.properties.station_code === c);
            if (!f) return null;
            const p = m.project(f.geometry.coordinates);
            const box = m.getCanvas().getBoundingClientRect();
            return {x: box.left + p.x, y: box.top + p.y};
        }, code);
        if (!point) {
            consoleErrors.push(`live station ${code} not drawn`);
        } else {
            await page.mouse.click(point.x, point.y);
            await page.waitForFunction(() => (window.cuulongStatus.charts || 0) > 0, null, {timeout, polling: 200});
            // The popup may pan the map: let the tiles of the new view arrive before the shot.
            await page.waitForFunction(() => window.cuulongMap.loaded() && window.cuulongMap.areTilesLoaded(),
                null, {timeout, polling: 200});
            await page.evaluate(() => window.cuulongMap.triggerRepaint());
            await page.waitForTimeout(500);
        }
        result.live = await page.evaluate(() => ({
            stations: window.cuulongMap.queryRenderedFeatures({layers: ['salinity_latest-circle']}).length,
            charts: window.cuulongStatus.charts || 0,
            chart_svg_or_canvas: document.querySelectorAll('.popup .chart canvas').length,
        }));
    }
    // MAP_CHECK_SALINITY=1: wait for the salinity fronts and the open alerts list; `salinity` =
    // {fronts, alerts} (front points drawn, stations listed with open alerts).
    if (process.env.MAP_CHECK_SALINITY) {
        await page.evaluate(() => window.cuulongMap.jumpTo({center: [106.45, 10.08], zoom: 9.6}));
        await page.waitForFunction(() => window.cuulongMap.loaded() && window.cuulongMap.areTilesLoaded(),
            null, {timeout, polling: 200});
        try {
            await page.waitForFunction(() => window.cuulongMap.queryRenderedFeatures({layers: ['salinity_front-circle']}).length > 0
                && (window.cuulongStatus.alerts || 0) > 0, null, {timeout, polling: 200});
        } catch {
            consoleErrors.push('salinity fronts or alerts not shown');
        }
        await page.waitForTimeout(500);
        result.salinity = await page.evaluate(() => ({
            fronts: window.cuulongMap.queryRenderedFeatures({layers: ['salinity_front-circle']}).length,
            alerts: window.cuulongStatus.alerts || 0,
            listed: document.querySelectorAll('#alerts li').length,
        }));
    }
    const st = await page.evaluate(() => window.cuulongStatus ?? null);
    if (st) {
        result.loaded = st.loaded === true;
        result.layers = st.layers ?? 0;
        result.status_errors = st.errors ?? [];
    }
    await page.screenshot({path: out, fullPage: true});
    // What happens while the browser closes (aborted requests) is not the page's doing.
    result.console_errors = [...consoleErrors];
    code = result.loaded && !consoleErrors.length && !result.status_errors.length ? 0 : 1;
} catch (e) {
    result.console_errors = [...consoleErrors, `map_check: ${e.message.split('\n')[0]}`];
} finally {
    if (context) await context.close().catch(() => {});
    rmSync(userDataDir, {recursive: true, force: true});
}
console.log(JSON.stringify(result));
process.exit(code);
