//! Per-feature geometry work: linearise curves, drop Z/M, reproject, check the extent, check
//! validity (GEOS, the same rules as PostGIS `ST_IsValid`) and repair when the repair keeps
//! area/length within 0.1 %, then hand a `geo` geometry to the store.

use gdal::cpl::CslStringList;
use gdal::spatial_ref::CoordTransform;
use gdal::vector::Geometry as OgrGeometry;
use gdal_sys::OGRwkbGeometryType as T;
use geo_types::{Geometry, MultiLineString, MultiPolygon};
use geozero::{wkb::Wkb, ToGeo};

use cuulong_core::Bbox;

/// Vietnam with its islands and territorial sea, in lon/lat: the default expected extent.
pub const VIETNAM_EXTENT: Bbox = Bbox([102.0, 6.0, 118.0, 23.5]);

/// The largest change of area (polygons) or length (lines) a repair may make.
pub const MAX_REPAIR_CHANGE: f64 = 0.001;

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Ok(Geometry<f64>),
    Repaired(Geometry<f64>, String),
}

/// Why a feature's geometry was rejected; the text goes into the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection(pub String);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dim {
    Point,
    Line,
    Polygon,
}

fn dim_of(t: u32) -> Option<Dim> {
    match t {
        T::wkbPoint | T::wkbMultiPoint => Some(Dim::Point),
        T::wkbLineString | T::wkbMultiLineString => Some(Dim::Line),
        T::wkbPolygon | T::wkbMultiPolygon => Some(Dim::Polygon),
        _ => None,
    }
}

fn flat_type(g: &OgrGeometry) -> u32 {
    unsafe { gdal_sys::OGR_GT_Flatten(g.geometry_type()) }
}

/// A 2D, linear copy of `g` (curves from DGN/TAB become line strings).
fn linear_2d(g: &OgrGeometry) -> Option<OgrGeometry> {
    let mut copy = if unsafe { gdal_sys::OGR_GT_IsNonLinear(g.geometry_type()) } != 0 {
        // SAFETY: `c_geometry` is valid for the life of `g`; the linear copy is owned here,
        // exported to WKB and destroyed before returning.
        unsafe {
            let h = gdal_sys::OGR_G_GetLinearGeometry(g.c_geometry(), 0.0, std::ptr::null_mut());
            if h.is_null() {
                return None;
            }
            let size = usize::try_from(gdal_sys::OGR_G_WkbSize(h)).unwrap_or(0);
            let mut wkb = vec![0u8; size];
            let err =
                gdal_sys::OGR_G_ExportToWkb(h, gdal_sys::OGRwkbByteOrder::wkbNDR, wkb.as_mut_ptr());
            gdal_sys::OGR_G_DestroyGeometry(h);
            if err != gdal_sys::OGRErr::OGRERR_NONE {
                return None;
            }
            OgrGeometry::from_wkb(&wkb).ok()?
        }
    } else {
        g.clone()
    };
    if gdal::vector::geometry_type_has_z(copy.geometry_type())
        || gdal::vector::geometry_type_has_m(copy.geometry_type())
    {
        copy.flatten_to_2d();
    }
    Some(copy)
}

/// Keeps only the parts of `g` of dimension `dim` (what MakeValid may add: stray lines/points).
fn keep_dim(g: OgrGeometry, dim: Dim) -> Option<OgrGeometry> {
    let t = flat_type(&g);
    if dim_of(t) == Some(dim) {
        return Some(g);
    }
    if t != T::wkbGeometryCollection {
        return None;
    }
    let target = match dim {
        Dim::Point => T::wkbMultiPoint,
        Dim::Line => T::wkbMultiLineString,
        Dim::Polygon => T::wkbMultiPolygon,
    };
    let mut out = OgrGeometry::empty(target).ok()?;
    for i in 0..g.geometry_count() {
        let part = g.get_geometry(i);
        let pt = unsafe { gdal_sys::OGR_GT_Flatten(part.geometry_type()) };
        if dim_of(pt) == Some(dim) {
            let wkb = part.wkb().ok()?;
            let part = OgrGeometry::from_wkb(&wkb).ok()?;
            let parts = if matches!(
                pt,
                T::wkbMultiPoint | T::wkbMultiLineString | T::wkbMultiPolygon
            ) {
                (0..part.geometry_count())
                    .filter_map(|j| OgrGeometry::from_wkb(&part.get_geometry(j).wkb().ok()?).ok())
                    .collect()
            } else {
                vec![part]
            };
            for p in parts {
                out.add_geometry(p).ok()?;
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

fn measure(g: &OgrGeometry, dim: Dim) -> f64 {
    match dim {
        Dim::Polygon => g.area().abs(),
        Dim::Line => g.length(),
        Dim::Point => 0.0,
    }
}

/// Finite coordinates inside the expected extent.
fn check_extent(bbox: &Bbox, extent: &Bbox) -> Result<(), Rejection> {
    if bbox.0.iter().any(|v| !v.is_finite()) {
        return Err(Rejection("coordinates are not finite numbers".into()));
    }
    if !bbox.within(extent) {
        return Err(Rejection(format!(
            "outside the expected extent: bbox {:.6},{:.6},{:.6},{:.6} is not within {},{},{},{} (wrong CRS?)",
            bbox.0[0], bbox.0[1], bbox.0[2], bbox.0[3], extent.0[0], extent.0[1], extent.0[2], extent.0[3]
        )));
    }
    Ok(())
}

/// The WKB geometry type of a plain 2D linear geometry (point … multipolygon), else `None`
/// (Z/M, curves, collections, anything unknown: those go through OGR).
fn plain_wkb_type(wkb: &[u8]) -> Option<u32> {
    let code: [u8; 4] = wkb.get(1..5)?.try_into().ok()?;
    let t = match wkb.first()? {
        0 => u32::from_be_bytes(code),
        1 => u32::from_le_bytes(code),
        _ => return None,
    };
    (1..=6).contains(&t).then_some(t)
}

/// Processes one source geometry as WKB. The common case — plain 2D points, lines or polygons
/// already in lon/lat, valid — is decoded straight into `geo` and checked in Rust; everything
/// else (reprojection, curves, Z/M, invalid geometry to repair with GEOS) goes through OGR.
pub fn process_wkb(
    wkb: &[u8],
    transform: Option<&CoordTransform>,
    extent: &Bbox,
) -> Result<Outcome, Rejection> {
    use geo::BoundingRect;
    if let (None, Some(t)) = (transform, plain_wkb_type(wkb)) {
        if let Ok(geo) = Wkb(wkb).to_geo() {
            if let Some(r) = geo.bounding_rect() {
                check_extent(&Bbox([r.min().x, r.min().y, r.max().x, r.max().y]), extent)?;
                let point = matches!(t, 1 | 4);
                if point || geo::Validation::is_valid(&geo) {
                    return Ok(Outcome::Ok(promote(geo)));
                }
            }
        }
    }
    let g = OgrGeometry::from_wkb(wkb)
        .map_err(|e| Rejection(format!("geometry could not be read: {e}")))?;
    process(&g, transform, extent)
}

/// Processes one source geometry. `transform` is `None` when the source is already lon/lat
/// WGS 84.
pub fn process(
    g: &OgrGeometry,
    transform: Option<&CoordTransform>,
    extent: &Bbox,
) -> Result<Outcome, Rejection> {
    let reject = |s: String| Err(Rejection(s));
    // Copy only when the geometry must change (curves, Z/M, reprojection).
    let plain = unsafe { gdal_sys::OGR_GT_IsNonLinear(g.geometry_type()) } == 0
        && !gdal::vector::geometry_type_has_z(g.geometry_type())
        && !gdal::vector::geometry_type_has_m(g.geometry_type());
    let mut copy = None;
    if !plain || transform.is_some() {
        let Some(mut c) = linear_2d(g) else {
            return reject("geometry could not be read".into());
        };
        if let Some(ct) = transform {
            if let Err(e) = c.transform_inplace(ct) {
                return reject(format!("cannot reproject: {e}"));
            }
        }
        copy = Some(c);
    }
    let g: &OgrGeometry = copy.as_ref().unwrap_or(g);
    if g.is_empty() {
        return reject("empty geometry".into());
    }
    let t = flat_type(g);
    let Some(dim) = dim_of(t) else {
        return reject(format!(
            "unsupported geometry type {} (expected points, lines or polygons)",
            g.geometry_name()
        ));
    };
    let env = g.envelope();
    check_extent(&Bbox([env.MinX, env.MinY, env.MaxX, env.MaxY]), extent)?;
    // Validity is checked in Rust first (no conversion to GEOS); only geometries it finds
    // invalid go to GEOS, which has the last word (the rules of PostGIS ST_IsValid) and repairs.
    let geo = match g
        .wkb()
        .map_err(|e| e.to_string())
        .and_then(|w| Wkb(w).to_geo().map_err(|e| e.to_string()))
    {
        Ok(geo) => geo,
        Err(e) => return reject(format!("cannot decode geometry: {e}")),
    };
    if dim == Dim::Point || geo::Validation::is_valid(&geo) || g.is_valid() {
        return Ok(Outcome::Ok(promote(geo)));
    }
    let before = measure(g, dim);
    let fixed = g
        .make_valid(&CslStringList::new())
        .ok()
        .and_then(|f| keep_dim(f, dim))
        .filter(|f| !f.is_empty() && f.is_valid());
    let Some(fixed) = fixed else {
        return reject("invalid geometry that cannot be repaired".into());
    };
    let after = measure(&fixed, dim);
    let change = if before > 0.0 {
        (after - before).abs() / before
    } else {
        f64::INFINITY
    };
    let what = if dim == Dim::Polygon {
        "area"
    } else {
        "length"
    };
    if change > MAX_REPAIR_CHANGE {
        return reject(format!(
            "invalid geometry: repair would change its {what} by {:.2} % (limit {:.1} %)",
            change * 100.0,
            MAX_REPAIR_CHANGE * 100.0
        ));
    }
    let geo = match fixed
        .wkb()
        .map_err(|e| e.to_string())
        .and_then(|w| Wkb(w).to_geo().map_err(|e| e.to_string()))
    {
        Ok(geo) => promote(geo),
        Err(e) => return reject(format!("cannot decode geometry: {e}")),
    };
    Ok(Outcome::Repaired(
        geo,
        format!(
            "repaired invalid geometry ({what} changed by {:.4} %)",
            change * 100.0
        ),
    ))
}

/// Polygons become MultiPolygons and lines MultiLineStrings, so a layer has one type.
pub fn promote(g: Geometry<f64>) -> Geometry<f64> {
    match g {
        Geometry::Polygon(p) => Geometry::MultiPolygon(MultiPolygon(vec![p])),
        Geometry::LineString(l) => Geometry::MultiLineString(MultiLineString(vec![l])),
        other => other,
    }
}

/// The layer geometry type named from an OGR type, promoted the same way.
pub fn layer_type_name(t: u32) -> &'static str {
    match unsafe { gdal_sys::OGR_GT_Flatten(t) } {
        T::wkbPoint => "Point",
        T::wkbMultiPoint => "MultiPoint",
        T::wkbLineString
        | T::wkbMultiLineString
        | T::wkbCircularString
        | T::wkbCompoundCurve
        | T::wkbMultiCurve => "MultiLineString",
        T::wkbPolygon | T::wkbMultiPolygon | T::wkbCurvePolygon | T::wkbMultiSurface => {
            "MultiPolygon"
        }
        _ => "Geometry",
    }
}

pub fn geo_type_name(g: &Geometry<f64>) -> &'static str {
    match g {
        Geometry::Point(_) => "Point",
        Geometry::MultiPoint(_) => "MultiPoint",
        Geometry::LineString(_) | Geometry::MultiLineString(_) => "MultiLineString",
        Geometry::Polygon(_) | Geometry::MultiPolygon(_) => "MultiPolygon",
        _ => "Geometry",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(wkt: &str) -> Result<Outcome, Rejection> {
        let g = OgrGeometry::from_wkt(wkt).unwrap();
        process(&g, None, &VIETNAM_EXTENT)
    }

    #[test]
    fn valid_polygon_passes_and_is_promoted() {
        let out = run("POLYGON ((106 10, 106.01 10, 106.01 10.01, 106 10, 106 10))").unwrap();
        assert!(matches!(out, Outcome::Ok(Geometry::MultiPolygon(_))));
    }

    #[test]
    fn bow_tie_is_rejected_spike_is_repaired() {
        let err =
            run("POLYGON ((106 10, 106.01 10.01, 106.01 10, 106 10.01, 106 10))").unwrap_err();
        assert!(err.0.contains("area"), "{}", err.0);
        // A zero-width spike: repair removes it without changing the area.
        let out = run(
            "POLYGON ((106 10, 106.01 10, 106.01 10.005, 106.02 10.005, 106.01 10.005, 106.01 10.01, 106 10.01, 106 10))",
        )
        .unwrap();
        assert!(matches!(out, Outcome::Repaired(..)), "{out:?}");
    }

    #[test]
    fn far_away_geometries_are_rejected() {
        let err = run("POINT (2.35 48.85)").unwrap_err();
        assert!(err.0.contains("outside the expected extent"), "{}", err.0);
        let err = run("POINT (581000 1132000)").unwrap_err();
        assert!(err.0.contains("wrong CRS"), "{}", err.0);
    }

    #[test]
    fn curves_are_linearised_and_z_dropped() {
        let out = run("CIRCULARSTRING Z (106 10 1, 106.01 10.01 1, 106.02 10 1)").unwrap();
        match out {
            Outcome::Ok(Geometry::MultiLineString(m)) => assert!(m.0[0].0.len() > 3),
            other => panic!("{other:?}"),
        }
    }

    /// The WKB fast path answers as OGR + GEOS do, for every kind of input.
    #[test]
    fn wkb_fast_path_answers_as_the_ogr_path() {
        let cases = [
            "POINT (106.3 10.2)",
            "MULTIPOINT ((106.3 10.2), (106.4 10.1))",
            "LINESTRING (106 10, 106.1 10.1)",
            "POLYGON ((106 10, 106.01 10, 106.01 10.01, 106 10, 106 10))",
            "POLYGON ((106 10, 106.01 10, 106.01 10.01, 106 10.01, 106 10), (106.002 10.002, 106.004 10.002, 106.004 10.004, 106.002 10.002))",
            // Invalid: a bow tie (rejected) and a spike (repaired) go on to GEOS.
            "POLYGON ((106 10, 106.01 10.01, 106.01 10, 106 10.01, 106 10))",
            "POLYGON ((106 10, 106.01 10, 106.01 10.005, 106.02 10.005, 106.01 10.005, 106.01 10.01, 106 10.01, 106 10))",
            // Outside Vietnam, projected coordinates, Z, curves, collections, empty.
            "POINT (2.35 48.85)",
            "POLYGON ((581000 1132000, 581100 1132000, 581100 1132100, 581000 1132000))",
            "LINESTRING Z (106 10 5, 106.1 10.1 6)",
            "CIRCULARSTRING (106 10, 106.01 10.01, 106.02 10)",
            "GEOMETRYCOLLECTION (POINT (106.3 10.2))",
            "POLYGON EMPTY",
        ];
        for wkt in cases {
            let g = OgrGeometry::from_wkt(wkt).unwrap();
            for order in [
                gdal_sys::OGRwkbByteOrder::wkbNDR,
                gdal_sys::OGRwkbByteOrder::wkbXDR,
            ] {
                let size =
                    usize::try_from(unsafe { gdal_sys::OGR_G_WkbSize(g.c_geometry()) }).unwrap();
                let mut wkb = vec![0u8; size];
                // SAFETY: the buffer holds the size OGR asked for; `g` outlives the call.
                let err =
                    unsafe { gdal_sys::OGR_G_ExportToWkb(g.c_geometry(), order, wkb.as_mut_ptr()) };
                assert_eq!(err, gdal_sys::OGRErr::OGRERR_NONE);
                assert_eq!(
                    process_wkb(&wkb, None, &VIETNAM_EXTENT),
                    process(&g, None, &VIETNAM_EXTENT),
                    "{wkt}"
                );
            }
        }
        assert_eq!(plain_wkb_type(&[1, 3, 0, 0, 0]), Some(3));
        assert_eq!(plain_wkb_type(&[0, 0, 0, 0, 3]), Some(3));
        assert_eq!(
            plain_wkb_type(&[1, 0xeb, 3, 0, 0]),
            None,
            "Polygon Z (1003)"
        );
        assert_eq!(plain_wkb_type(&[7]), None);
        let err = process_wkb(&[1, 2, 3], None, &VIETNAM_EXTENT).unwrap_err();
        assert!(err.0.contains("could not be read"), "{}", err.0);
    }
}
