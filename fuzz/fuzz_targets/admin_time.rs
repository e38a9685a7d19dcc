//! Administrative units in time: the lineage-table reader and checker on any text, and the
//! parameters that name a day or an old address over HTTP (`datetime=`, WMS `TIME=`,
//! `/admin/resolve`, `/admin/lineage`): never a crash or a 500.
#![no_main]

use std::sync::OnceLock;

use cuulong_tile_server::fuzzing::{to_query, Harness};
use libfuzzer_sys::fuzz_target;

static HARNESS: OnceLock<Harness> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(rows) = cuulong_core::admin::read_lineage(&text) {
        if let Ok(lineage) = cuulong_core::admin::check(&rows, &[]) {
            assert!(lineage.events.len() <= rows.len());
        }
    }
    let _ = cuulong_core::admin::fold(&text);
    let harness = HARNESS.get_or_init(Harness::new);
    let q = to_query(data);
    for path in [
        format!("/admin/resolve?name={q}&district={q}&date={q}"),
        format!("/admin/lineage/{}?date={q}", q.replace('/', "%2F")),
        format!("/admin/reexpress?field=population_2009&to={q}&from={q}"),
        format!("/tiles/land_use/12/3256/1931.mvt?datetime={q}"),
        format!("/query/point?lon=106.25&lat=10.15&datetime={q}"),
        format!("/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=land_use&STYLES=&CRS=EPSG:3857&BBOX=11822000,1128000,11835000,1141000&WIDTH=8&HEIGHT=8&FORMAT=image/png&TIME={q}"),
    ] {
        if let Some(status) = harness.get(&path) {
            assert!(status != 500, "{path}: {status}");
        }
    }
});
