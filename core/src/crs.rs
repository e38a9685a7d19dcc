//! Coordinate reference systems shared by the importer and the server: the pinned VN-2000
//! datum shift (EPSG:6960) as PROJ pipeline text, and the CRSs WMS maps are drawn in. Only
//! text and arithmetic here; PROJ (through GDAL) runs the pipelines.

use crate::tile::{to_lonlat, to_mercator};

/// EPSG:6960, VN-2000 → WGS 84, coordinate-frame rotation.
pub const VN2000_HELMERT: [f64; 7] = [
    -191.904_414_29,
    -39.303_182_79,
    -111.450_328_35,
    -0.009_288_36,
    0.019_754_79,
    -0.004_273_72,
    0.252_906_278,
];

/// Splits a PROJ string into `(key, value)` pairs.
pub fn proj_params(proj: &str) -> Vec<(String, Option<String>)> {
    proj.split_whitespace()
        .filter_map(|t| t.strip_prefix('+'))
        .map(|t| match t.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (t.to_owned(), None),
        })
        .collect()
}

pub fn param<'a>(params: &'a [(String, Option<String>)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.as_deref())
}

/// Builds the pinned PROJ pipeline from a VN-2000 CRS (as a PROJ string) to WGS 84 lon/lat in
/// degrees. Also returns the `+towgs84` the definition carried, if any.
pub fn vn2000_pipeline(proj: &str) -> Result<(String, Option<Vec<f64>>), String> {
    let params = proj_params(proj);
    let towgs84 = param(&params, "towgs84")
        .map(|t| t.split(',').filter_map(|x| x.trim().parse().ok()).collect());
    let kind = param(&params, "proj").ok_or("no +proj in the CRS definition")?;
    let mut steps = String::from("+proj=pipeline");
    if kind == "longlat" || kind == "latlong" {
        steps.push_str(" +step +proj=unitconvert +xy_in=deg +xy_out=rad");
    } else {
        steps.push_str(" +step +inv");
        for (k, v) in &params {
            if matches!(
                k.as_str(),
                "towgs84"
                    | "datum"
                    | "ellps"
                    | "no_defs"
                    | "type"
                    | "wktext"
                    | "nadgrids"
                    | "a"
                    | "b"
                    | "rf"
                    | "f"
            ) {
                continue;
            }
            steps.push_str(" +");
            steps.push_str(k);
            if let Some(v) = v {
                steps.push('=');
                steps.push_str(v);
            }
        }
        // VN-2000 is defined on the WGS 84 ellipsoid.
        steps.push_str(" +ellps=WGS84");
    }
    let h = VN2000_HELMERT;
    steps.push_str(&format!(
        " +step +proj=cart +ellps=WGS84 +step +proj=helmert +x={} +y={} +z={} +rx={} +ry={} +rz={} +s={} +convention=coordinate_frame +step +inv +proj=cart +ellps=WGS84 +step +proj=unitconvert +xy_in=rad +xy_out=deg",
        h[0], h[1], h[2], h[3], h[4], h[5], h[6]
    ));
    Ok((steps, towgs84))
}

/// The inverse of a `+proj=pipeline`: steps in reverse order, each with `+inv` toggled.
pub fn invert_pipeline(pipeline: &str) -> String {
    let mut steps: Vec<String> = pipeline
        .split(" +step ")
        .skip(1)
        .map(|step| match step.strip_prefix("+inv ") {
            Some(forward) => forward.to_owned(),
            None => format!("+inv {step}"),
        })
        .collect();
    steps.reverse();
    let mut out = String::from("+proj=pipeline");
    for s in steps {
        out.push_str(" +step ");
        out.push_str(&s);
    }
    out
}

/// A CRS a WMS map can be requested in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapCrs {
    /// CRS:84, lon/lat.
    Crs84,
    /// EPSG:4326: lat/lon axis order in WMS 1.3.0, lon/lat in 1.1.1.
    Wgs84,
    /// EPSG:3857 Web Mercator.
    WebMercator,
    /// VN-2000 by EPSG code (4756 geographic; 3405 UTM 48N; 9209/9210 TM-3).
    Vn2000(u32),
}

/// The VN-2000 CRSs WMS offers, with their PROJ definitions (datum shift applied separately).
pub const VN2000_MAP_CRS: &[(u32, &str, &str)] = &[
    (4756, "VN-2000", "+proj=longlat +ellps=WGS84 +no_defs"),
    (
        3405,
        "VN-2000 / UTM zone 48N",
        "+proj=utm +zone=48 +ellps=WGS84 +units=m +no_defs",
    ),
    (
        9210,
        "VN-2000 / TM-3 105-45 (Bến Tre)",
        "+proj=tmerc +lat_0=0 +lon_0=105.75 +k=0.9999 +x_0=500000 +y_0=0 +ellps=WGS84 +units=m +no_defs",
    ),
    (
        9209,
        "VN-2000 / TM-3 105-30",
        "+proj=tmerc +lat_0=0 +lon_0=105.5 +k=0.9999 +x_0=500000 +y_0=0 +ellps=WGS84 +units=m +no_defs",
    ),
];

impl MapCrs {
    /// Every CRS offered, in capabilities order.
    pub fn all() -> Vec<MapCrs> {
        let mut v = vec![MapCrs::Crs84, MapCrs::Wgs84, MapCrs::WebMercator];
        v.extend(VN2000_MAP_CRS.iter().map(|(c, _, _)| MapCrs::Vn2000(*c)));
        v
    }

    /// Parses a CRS/SRS parameter (case-insensitive; EPSG:900913 and EPSG:102100 are 3857).
    pub fn parse(s: &str) -> Option<MapCrs> {
        let up = s.trim().to_ascii_uppercase();
        match up.as_str() {
            "CRS:84" | "OGC:CRS84" | "HTTP://WWW.OPENGIS.NET/DEF/CRS/OGC/1.3/CRS84" => {
                return Some(MapCrs::Crs84)
            }
            "EPSG:4326" => return Some(MapCrs::Wgs84),
            "EPSG:3857" | "EPSG:900913" | "EPSG:102100" | "EPSG:3785" => {
                return Some(MapCrs::WebMercator)
            }
            _ => {}
        }
        let code: u32 = up.strip_prefix("EPSG:")?.parse().ok()?;
        VN2000_MAP_CRS
            .iter()
            .any(|(c, _, _)| *c == code)
            .then_some(MapCrs::Vn2000(code))
    }

    pub fn name(self) -> String {
        match self {
            MapCrs::Crs84 => "CRS:84".into(),
            MapCrs::Wgs84 => "EPSG:4326".into(),
            MapCrs::WebMercator => "EPSG:3857".into(),
            MapCrs::Vn2000(c) => format!("EPSG:{c}"),
        }
    }

    /// Whether a BBOX in this CRS is written latitude first (northing first) for `version`.
    pub fn lat_first(self, version_1_3: bool) -> bool {
        version_1_3 && matches!(self, MapCrs::Wgs84 | MapCrs::Vn2000(4756))
    }

    pub fn is_geographic(self) -> bool {
        matches!(self, MapCrs::Crs84 | MapCrs::Wgs84 | MapCrs::Vn2000(4756))
    }

    /// PROJ definition of a VN-2000 CRS (on the WGS 84 ellipsoid, without datum shift).
    pub fn vn2000_proj(self) -> Option<&'static str> {
        match self {
            MapCrs::Vn2000(code) => VN2000_MAP_CRS
                .iter()
                .find(|(c, _, _)| *c == code)
                .map(|(_, _, p)| *p),
            _ => None,
        }
    }

    /// Converts an EPSG:3857 point into this CRS (lon/lat order for geographic CRSs) when that
    /// needs no datum shift; `None` for VN-2000, which goes through PROJ.
    pub fn mercator_to_map(self, x: f64, y: f64) -> Option<(f64, f64)> {
        match self {
            MapCrs::WebMercator => Some((x, y)),
            MapCrs::Crs84 | MapCrs::Wgs84 => Some(to_lonlat(x, y)),
            MapCrs::Vn2000(_) => None,
        }
    }

    /// The inverse of [`MapCrs::mercator_to_map`].
    pub fn map_to_mercator(self, x: f64, y: f64) -> Option<(f64, f64)> {
        match self {
            MapCrs::WebMercator => Some((x, y)),
            MapCrs::Crs84 | MapCrs::Wgs84 => Some(to_mercator(x, y)),
            MapCrs::Vn2000(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverted_pipeline_reverses_and_toggles() {
        let p = "+proj=pipeline +step +inv +proj=tmerc +lon_0=105.75 +step +proj=cart +ellps=WGS84 +step +proj=helmert +x=1";
        assert_eq!(
            invert_pipeline(p),
            "+proj=pipeline +step +inv +proj=helmert +x=1 +step +inv +proj=cart +ellps=WGS84 +step +proj=tmerc +lon_0=105.75"
        );
        assert_eq!(invert_pipeline(&invert_pipeline(p)), p);
    }

    #[test]
    fn parses_wms_crs_names() {
        assert_eq!(MapCrs::parse("epsg:4326"), Some(MapCrs::Wgs84));
        assert_eq!(MapCrs::parse("CRS:84"), Some(MapCrs::Crs84));
        assert_eq!(MapCrs::parse("EPSG:900913"), Some(MapCrs::WebMercator));
        assert_eq!(MapCrs::parse("EPSG:9210"), Some(MapCrs::Vn2000(9210)));
        assert_eq!(MapCrs::parse("EPSG:2154"), None);
        assert!(MapCrs::Wgs84.lat_first(true) && !MapCrs::Wgs84.lat_first(false));
        assert!(!MapCrs::Vn2000(9210).lat_first(true));
    }
}
