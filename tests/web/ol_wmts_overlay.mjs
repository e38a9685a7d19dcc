#!/usr/bin/env node
// OpenLayers (npm `ol`, its full build) in headless Debian chromium, as a VN-2000 portal uses
// cuulong: the view in EPSG:9210, the land-use WMTS layer from the capabilities
// (`optionsFromCapabilities`, VN2000TM3BenTreQuad), and the parcels of the view as a GeoJSON
// overlay fetched from OGC API – Features with crs=EPSG:9210 (no reprojection in the browser).
// Writes three screenshots of the map element and prints one JSON line:
//   OUT_DIR/both.png      the tiles with the overlay (the picture for docs/)
//   OUT_DIR/tiles.png     the tiles alone
//   OUT_DIR/overlay.png   the overlay alone (red 1-px outlines on white)
//   {"ok":true,"features":N,"tiles_loaded":N,"tile_errors":N,"resolution":R,"extent":[...],"console_errors":[]}
//
//   node tests/web/ol_wmts_overlay.mjs http://127.0.0.1:PORT LEVEL EAST NORTH OUT_DIR
//
// The view is WIDTH × HEIGHT css pixels (768 × 512) at LEVEL's resolution, its top-left corner
// on the grid's pixel lattice nearest to (EAST, NORTH), so OpenLayers draws the tiles unscaled.
// Needs scripts/install-test-tools.sh (.tools/node: playwright-core, ol; /usr/bin/chromium).
import {createRequire} from 'node:module';
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const nodeDir = path.join(repo, '.tools', 'node');
const require = createRequire(path.join(nodeDir, 'package.json'));
let chromium;
let olJs;
let olCss;
try {
    ({chromium} = require('playwright-core'));
    olJs = readFileSync(path.join(nodeDir, 'node_modules', 'ol', 'dist', 'ol.js'), 'utf8');
    olCss = readFileSync(path.join(nodeDir, 'node_modules', 'ol', 'ol.css'), 'utf8');
} catch {
    console.error('ol_wmts_overlay: playwright-core or ol missing; run scripts/install-test-tools.sh');
    process.exit(2);
}

const [base, level, east, north, outDir] = process.argv.slice(2);
if (!outDir) {
    console.error('usage: node tests/web/ol_wmts_overlay.mjs BASE_URL LEVEL EAST NORTH OUT_DIR');
    process.exit(2);
}
const WIDTH = 768;
const HEIGHT = 512;
const timeout = Number(process.env.MAP_CHECK_TIMEOUT_MS || 60000);

// The page: everything it needs comes from the server's origin (the page and ol.js are routed
// by playwright under that origin, so fetch needs no CORS and the canvas is not tainted).
const page_html = `<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="/__ol_check/ol.css"><script src="/__ol_check/ol.js"></script>
<style>html,body{margin:0;background:#fff}#map{width:${WIDTH}px;height:${HEIGHT}px}</style>
</head><body><div id="map"></div><script>
window.olCheck = (async () => {
  const grid = await (await fetch('/tileMatrixSets/VN2000TM3BenTreQuad')).json();
  const m = grid.tileMatrices.find((t) => t.id === ${JSON.stringify(level)});
  const [ox, oy] = m.pointOfOrigin;
  const res = m.cellSize;
  // EPSG:9210 for OpenLayers: a metric projection with the grid's extent. No proj4 needed:
  // both layers arrive in this CRS.
  const span = grid.tileMatrices[0].cellSize * grid.tileMatrices[0].tileWidth;
  const proj = new ol.proj.Projection({code: 'EPSG:9210', units: 'm',
      extent: [ox, oy - span, ox + span, oy]});
  ol.proj.addProjection(proj);
  const capsText = await (await fetch('/wmts/1.0.0/WMTSCapabilities.xml')).text();
  const caps = new ol.format.WMTSCapabilities().read(capsText);
  const options = ol.source.WMTS.optionsFromCapabilities(caps,
      {layer: 'land_use', matrixSet: 'VN2000TM3BenTreQuad', style: 'land_use', format: 'image/png'});
  if (!options) throw new Error('optionsFromCapabilities found no land_use/VN2000TM3BenTreQuad');
  const source = new ol.source.WMTS(options);
  let tilesLoaded = 0, tileErrors = 0;
  source.on('tileloadend', () => tilesLoaded++);
  source.on('tileloaderror', () => tileErrors++);
  const tiles = new ol.layer.Tile({source});
  // Top-left corner on the grid's pixel lattice.
  const x0 = ox + Math.round((${Number(east)} - ox) / res - ${WIDTH / 2}) * res;
  const y1 = oy - Math.round((oy - ${Number(north)}) / res - ${HEIGHT / 2}) * res;
  const extent = [x0, y1 - ${HEIGHT} * res, x0 + ${WIDTH} * res, y1];
  const url = '/collections/land_use/items?limit=2000&crs=EPSG:9210&bbox-crs=EPSG:9210&bbox=' + extent.join(',');
  const fc = await (await fetch(url, {headers: {Accept: 'application/geo+json'}})).json();
  const features = new ol.format.GeoJSON().readFeatures(fc,
      {dataProjection: proj, featureProjection: proj});
  const overlay = new ol.layer.Vector({
    source: new ol.source.Vector({features}),
    style: new ol.style.Style({stroke: new ol.style.Stroke({color: '#ff0000', width: 1})}),
  });
  const map = new ol.Map({target: 'map', layers: [tiles, overlay], controls: [],
      pixelRatio: 1, view: new ol.View({projection: proj, resolution: res,
          center: [(extent[0] + extent[2]) / 2, (extent[1] + extent[3]) / 2]})});
  const rendered = () => new Promise((resolve) => map.once('rendercomplete', resolve));
  await rendered();
  window.olShow = async (showTiles, showOverlay) => {
    tiles.setVisible(showTiles);
    overlay.setVisible(showOverlay);
    const done = rendered();
    map.render();
    await done;
  };
  return {features: features.length, matched: fc.numberMatched ?? null, tiles_loaded: tilesLoaded,
      tile_errors: tileErrors, resolution: res, extent,
      view_extent: map.getView().calculateExtent(map.getSize())};
})();
</script></body></html>`;

const userDataDir = mkdtempSync(path.join(tmpdir(), 'cuulong-chromium-'));
const consoleErrors = [];
const result = {ok: false, console_errors: consoleErrors};
let context;
let code = 1;
try {
    context = await chromium.launchPersistentContext(userDataDir, {
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        headless: true,
        viewport: {width: WIDTH + 32, height: HEIGHT + 32},
        deviceScaleFactor: 1,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
    const page = context.pages()[0] ?? await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    page.on('requestfailed', (r) => consoleErrors.push(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
    await page.route(`${base}/__ol_check/**`, (route) => {
        const u = new URL(route.request().url());
        if (u.pathname.endsWith('/page.html')) return route.fulfill({contentType: 'text/html', body: page_html});
        if (u.pathname.endsWith('/ol.js')) return route.fulfill({contentType: 'text/javascript', body: olJs});
        if (u.pathname.endsWith('/ol.css')) return route.fulfill({contentType: 'text/css', body: olCss});
        return route.fulfill({status: 404, body: ''});
    });
    await page.goto(`${base}/__ol_check/page.html`, {waitUntil: 'load', timeout});
    Object.assign(result, await page.evaluate(() => window.olCheck));
    const map = page.locator('#map');
    await map.screenshot({path: path.join(outDir, 'both.png')});
    await page.evaluate(() => window.olShow(true, false));
    await map.screenshot({path: path.join(outDir, 'tiles.png')});
    await page.evaluate(() => window.olShow(false, true));
    await map.screenshot({path: path.join(outDir, 'overlay.png')});
    result.console_errors = [...consoleErrors];
    result.ok = !consoleErrors.length && result.tile_errors === 0 && result.features > 0;
    code = result.ok ? 0 : 1;
} catch (e) {
    result.console_errors = [...consoleErrors, `ol_wmts_overlay: ${e.message.split('\n')[0]}`];
} finally {
    if (context) await context.close().catch(() => {});
    rmSync(userDataDir, {recursive: true, force: true});
}
console.log(JSON.stringify(result));
process.exit(code);
