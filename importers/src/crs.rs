//! Source CRS → EPSG:4326. VN-2000 is recognised however it is written (EPSG code, ESRI or OGC
//! WKT, PROJ string with or without `+towgs84`, signs flipped or not) and always transformed
//! with the official EPSG:6960 parameters as an explicit PROJ pipeline — never a bare CRS pair,
//! for which PROJ picks EPSG:5194 in Bến Tre (0.81 m away). Other CRSs use PROJ's best operation.

use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, CoordTransformOptions, SpatialRef};

use crate::ImportError;
pub use cuulong_core::crs::{param, proj_params, vn2000_pipeline, VN2000_HELMERT};

/// EPSG codes of VN-2000 CRSs (geographic, UTM 48N/49N, TM-3 zones) for quick recognition.
const VN2000_EPSG: &[i32] = &[
    4756, 3405, 3406, 5896, 5897, 5898, 5899, 9205, 9206, 9207, 9208, 9209, 9210, 9211, 9212, 9213,
    9214, 9215, 9216, 9217, 9218,
];

/// How a layer's coordinates get to EPSG:4326.
pub struct Reprojection {
    pub transform: Option<CoordTransform>,
    /// The source CRS as a short name, e.g. "VN-2000 / TM-3 105-45 (EPSG:9210)".
    pub src_name: String,
    /// The coordinate operation, recorded per import.
    pub operation: String,
    pub warnings: Vec<String>,
}

fn wgs84() -> Result<SpatialRef, ImportError> {
    let mut srs = SpatialRef::from_epsg(4326).map_err(|e| ImportError::Crs {
        crs: "EPSG:4326".into(),
        message: e.to_string(),
    })?;
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    Ok(srs)
}

/// Parses a user-given CRS (`EPSG:9210`, WKT, a PROJ string, …).
pub fn parse_crs(definition: &str) -> Result<SpatialRef, ImportError> {
    let srs = SpatialRef::from_definition(definition).map_err(|_| ImportError::UnknownCrs {
        crs: definition.to_owned(),
    })?;
    Ok(srs)
}

fn srs_name(srs: &SpatialRef) -> String {
    let name = srs
        .name()
        .filter(|n| !n.is_empty() && n != "unknown")
        .or_else(|| srs.to_proj4().ok().map(|p| p.trim().to_owned()))
        .unwrap_or_else(|| "unnamed CRS".into());
    let mut probe = srs.clone();
    let code = match (srs.auth_name(), srs.auth_code()) {
        (Some(auth), Ok(code)) => Some(format!("{auth}:{code}")),
        _ => probe
            .auto_identify_epsg()
            .ok()
            .and_then(|_| probe.auth_code().ok())
            .map(|c| format!("EPSG:{c}")),
    };
    match code {
        Some(code) => format!("{name} ({code})"),
        None => name,
    }
}

/// What makes a CRS VN-2000, and the `+towgs84` it carried, if any.
#[derive(Debug, PartialEq)]
pub enum Vn2000Evidence {
    Named,
    EpsgCode(i32),
    Towgs84Close,
    /// A bare transverse Mercator with the TM-3 signature on the WGS 84 ellipsoid.
    Tm3Signature,
}

/// Decides whether a CRS is VN-2000, from its WKT and PROJ forms.
pub fn detect_vn2000(wkt: &str, proj: &str, epsg: Option<i32>) -> Option<Vn2000Evidence> {
    let w = wkt.to_ascii_lowercase();
    if [
        "vn-2000",
        "vn_2000",
        "vietnam_2000",
        "vietnam 2000",
        "vn2000",
        "vn 2000",
    ]
    .iter()
    .any(|n| w.contains(n))
    {
        return Some(Vn2000Evidence::Named);
    }
    if let Some(code) = epsg.filter(|c| VN2000_EPSG.contains(c)) {
        return Some(Vn2000Evidence::EpsgCode(code));
    }
    let params = proj_params(proj);
    if let Some(t) = param(&params, "towgs84") {
        let v: Vec<f64> = t.split(',').filter_map(|x| x.trim().parse().ok()).collect();
        if v.len() >= 3
            && (v[0] - VN2000_HELMERT[0]).abs() < 5.0
            && (v[1] - VN2000_HELMERT[1]).abs() < 5.0
            && (v[2] - VN2000_HELMERT[2]).abs() < 5.0
        {
            return Some(Vn2000Evidence::Towgs84Close);
        }
        return None;
    }
    let num = |k: &str| param(&params, k).and_then(|v| v.parse::<f64>().ok());
    // No datum, or a WGS 84 one: MapInfo and many exports write VN-2000 TM-3 that way. Nobody
    // uses WGS 84 TM-3 zones with k = 0.9999 in Vietnam; the signature is VN-2000's.
    let datum = param(&params, "datum");
    let wgs84_ellps = param(&params, "ellps").is_none_or(|e| e == "WGS84");
    if param(&params, "proj") == Some("tmerc")
        && wgs84_ellps
        && datum.is_none_or(|d| d == "WGS84")
        && num("k").or(num("k_0")) == Some(0.9999)
        && num("x_0") == Some(500_000.0)
        && num("lon_0").is_some_and(|l| (102.0..=110.0).contains(&l) && (l * 4.0).fract() == 0.0)
    {
        return Some(Vn2000Evidence::Tm3Signature);
    }
    None
}

/// Compares a file's own `+towgs84` with EPSG:6960 and says how it differs.
pub fn towgs84_warning(given: &[f64]) -> Option<String> {
    let h = VN2000_HELMERT;
    if given.len() < 7 {
        return Some(format!(
            "the file's +towgs84 has only {} parameters; used the 7 of EPSG:6960 instead",
            given.len()
        ));
    }
    // +towgs84 uses the position-vector convention: the correct rotations are the negated
    // coordinate-frame ones.
    let close = |a: f64, b: f64, tol: f64| (a - b).abs() <= tol;
    let shift_ok = (0..3).all(|i| close(given[i], h[i], 0.01));
    let rot_pv = (3..6).all(|i| close(given[i], -h[i], 1e-6));
    let rot_cf = (3..6).all(|i| close(given[i], h[i], 1e-6));
    let scale_ok = close(given[6], h[6], 1e-6);
    if shift_ok && rot_pv && scale_ok {
        None
    } else if shift_ok && rot_cf && scale_ok {
        Some(
            "the file's +towgs84 has the rotation signs flipped (coordinate-frame values in a \
             position-vector field, ~0.5 m off in Bến Tre); used EPSG:6960 instead"
                .into(),
        )
    } else {
        Some(format!(
            "the file's +towgs84 ({}) disagrees with EPSG:6960; used EPSG:6960 instead",
            given
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ))
    }
}

/// Whether the CRS's own axis order differs from the data's (lat/lon or northing/easting).
fn axes_swapped(srs: &SpatialRef) -> bool {
    let mut count = 0;
    // SAFETY: the handle is valid while `srs` lives; GDAL returns a pointer to `count` ints
    // owned by the SRS, read before `srs` can change.
    unsafe {
        let p = gdal_sys::OSRGetDataAxisToSRSAxisMapping(srs.to_c_hsrs(), &mut count);
        !p.is_null() && count >= 2 && *p == 2
    }
}

/// Works out how to bring `src` to EPSG:4326.
pub fn reprojection(src: &mut SpatialRef) -> Result<Reprojection, ImportError> {
    src.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let src_name = srs_name(src);
    let err = |message: String| ImportError::Crs {
        crs: src_name.clone(),
        message,
    };
    let wkt = src.to_wkt().map_err(|e| err(e.to_string()))?;
    let proj = src.to_proj4().unwrap_or_default();
    let mut probe = src.clone();
    let epsg = src.auth_code().ok().or_else(|| {
        probe
            .auto_identify_epsg()
            .ok()
            .and_then(|_| probe.auth_code().ok())
    });
    let target = wgs84()?;
    let mut warnings = Vec::new();
    if let Some(evidence) = detect_vn2000(&wkt, &proj, epsg) {
        if evidence == Vn2000Evidence::Tm3Signature {
            warnings.push(format!(
                "CRS '{src_name}' names no VN-2000 datum, but its TM-3 parameters are VN-2000's, so it was treated as VN-2000 (if it really is WGS 84, give --src-crs with +towgs84=0,0,0)"
            ));
        }
        let (pipeline, towgs84) = vn2000_pipeline(&proj).map_err(err)?;
        // GDAL feeds an explicit operation with coordinates in the CRSs' own axis order and
        // maps the result from EPSG:4326's (lat, lon) back to data order; wrap the lon/lat
        // pipeline so it speaks those orders.
        let mut gdal_pipeline = pipeline.clone();
        if axes_swapped(src) {
            gdal_pipeline = gdal_pipeline.replacen(
                "+proj=pipeline",
                "+proj=pipeline +step +proj=axisswap +order=2,1",
                1,
            );
        }
        gdal_pipeline.push_str(" +step +proj=axisswap +order=2,1");
        if let Some(w) = towgs84.as_deref().and_then(towgs84_warning) {
            warnings.push(w);
        }
        let mut opts = CoordTransformOptions::new().map_err(|e| err(e.to_string()))?;
        opts.set_coordinate_operation(&gdal_pipeline, false)
            .map_err(|e| err(e.to_string()))?;
        let transform = CoordTransform::new_with_options(&*src, &target, &opts)
            .map_err(|e| err(e.to_string()))?;
        return Ok(Reprojection {
            transform: Some(transform),
            src_name,
            operation: format!("EPSG:6960 (VN-2000 to WGS 84, pinned): {pipeline}"),
            warnings,
        });
    }
    let is_wgs84 = epsg == Some(4326) || src.is_geographic() && proj.contains("+datum=WGS84");
    if is_wgs84 {
        return Ok(Reprojection {
            transform: None,
            src_name,
            operation: "none (already WGS 84 lon/lat)".into(),
            warnings,
        });
    }
    let transform = CoordTransform::new(&*src, &target).map_err(|e| err(e.to_string()))?;
    Ok(Reprojection {
        transform: Some(transform),
        src_name,
        operation: format!("PROJ best operation from {proj} to EPSG:4326"),
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_vn2000_however_written() {
        assert_eq!(
            detect_vn2000(
                "PROJCS[\"VN_2000_TM3_105_45\",GEOGCS[\"GCS_VN_2000\"]]",
                "",
                None
            ),
            Some(Vn2000Evidence::Named)
        );
        assert_eq!(
            detect_vn2000("", "", Some(9210)),
            Some(Vn2000Evidence::EpsgCode(9210))
        );
        assert_eq!(
            detect_vn2000(
                "",
                "+proj=tmerc +lon_0=105.75 +k=0.9999 +x_0=500000 +ellps=WGS84 +towgs84=-191.90441,-39.30318,-111.45033,0.00928836,-0.01975479,0.00427372,0.252906278",
                None
            ),
            Some(Vn2000Evidence::Towgs84Close)
        );
        assert_eq!(
            detect_vn2000("", "+proj=tmerc +lat_0=0 +lon_0=105.75 +k=0.9999 +x_0=500000 +y_0=0 +ellps=WGS84 +units=m", None),
            Some(Vn2000Evidence::Tm3Signature)
        );
        assert_eq!(
            detect_vn2000("WGS 84", "+proj=longlat +datum=WGS84", Some(4326)),
            None
        );
        assert_eq!(
            detect_vn2000("", "+proj=utm +zone=48 +datum=WGS84", Some(32648)),
            None
        );
    }

    #[test]
    fn pipeline_pins_epsg_6960() {
        let (p, towgs) = vn2000_pipeline(
            "+proj=tmerc +lat_0=0 +lon_0=105.75 +k=0.9999 +x_0=500000 +y_0=0 +ellps=WGS84 +towgs84=-191.9,-39.3,-111.45,0,0,0,0 +units=m +no_defs",
        )
        .unwrap();
        assert!(p.starts_with("+proj=pipeline +step +inv +proj=tmerc +lat_0=0 +lon_0=105.75 +k=0.9999 +x_0=500000 +y_0=0 +units=m +ellps=WGS84"), "{p}");
        assert!(p.contains("+proj=helmert +x=-191.90441429"), "{p}");
        assert!(p.contains("+convention=coordinate_frame"));
        assert!(!p.contains("towgs84"));
        assert_eq!(towgs.unwrap().len(), 7);
    }

    #[test]
    fn flipped_rotation_signs_are_named() {
        let h = VN2000_HELMERT;
        let pv = [h[0], h[1], h[2], -h[3], -h[4], -h[5], h[6]];
        assert_eq!(towgs84_warning(&pv), None);
        let cf = h;
        assert!(towgs84_warning(&cf).unwrap().contains("flipped"));
        assert!(towgs84_warning(&[-191.9, -39.3, -111.45]).is_some());
    }
}
