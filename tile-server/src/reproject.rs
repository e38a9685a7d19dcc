//! Between EPSG:3857 (the index) and a map CRS (WMS maps, OGC API – Features `crs`/`bbox-crs`). Web Mercator and WGS 84 are closed-form;
//! VN-2000 goes through PROJ (via GDAL) with the pinned EPSG:6960 pipeline, never PROJ's own
//! choice (`cuulong_core::crs`).

use cuulong_core::crs::{invert_pipeline, vn2000_pipeline, MapCrs};
use cuulong_core::tile::{to_lonlat, to_mercator};
use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, CoordTransformOptions, SpatialRef};

/// Why coordinates could not be carried between EPSG:3857 and a map CRS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReprojectError {
    #[error("{crs}: cannot set up the transformation: {cause}")]
    Setup { crs: String, cause: String },
    #[error("outside the domain of {crs}: {cause}")]
    OutsideDomain { crs: String, cause: String },
    #[error("does not map to a valid area from {crs}")]
    NoArea { crs: String },
}

pub struct Reprojector {
    crs: MapCrs,
    /// VN-2000 only: WGS 84 lon/lat → the CRS, and back.
    forward: Option<CoordTransform>,
    inverse: Option<CoordTransform>,
}

fn srs(proj: &str) -> Result<SpatialRef, String> {
    let mut s = SpatialRef::from_proj4(proj).map_err(|e| e.to_string())?;
    s.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    Ok(s)
}

fn transform(from: &str, to: &str, pipeline: &str) -> Result<CoordTransform, String> {
    let mut opts = CoordTransformOptions::new().map_err(|e| e.to_string())?;
    opts.set_coordinate_operation(pipeline, false)
        .map_err(|e| e.to_string())?;
    CoordTransform::new_with_options(&srs(from)?, &srs(to)?, &opts).map_err(|e| e.to_string())
}

const WGS84: &str = "+proj=longlat +datum=WGS84 +no_defs";

impl Reprojector {
    pub fn new(crs: MapCrs) -> Result<Self, ReprojectError> {
        let Some(def) = crs.vn2000_proj() else {
            return Ok(Self {
                crs,
                forward: None,
                inverse: None,
            });
        };
        let build = || -> Result<(CoordTransform, CoordTransform), String> {
            let (to_wgs84, _) = vn2000_pipeline(def)?;
            let inverse = transform(def, WGS84, &to_wgs84)?;
            let forward = transform(WGS84, def, &invert_pipeline(&to_wgs84))?;
            Ok((forward, inverse))
        };
        let (forward, inverse) = build().map_err(|cause| ReprojectError::Setup {
            crs: crs.name(),
            cause,
        })?;
        Ok(Self {
            crs,
            forward: Some(forward),
            inverse: Some(inverse),
        })
    }

    /// EPSG:3857 → map CRS (x east, y north), in place; points PROJ cannot map become NaN.
    pub fn mercator_to_map(&self, pts: &mut [(f64, f64)]) {
        match &self.forward {
            None => {
                for p in pts.iter_mut() {
                    *p = self.crs.mercator_to_map(p.0, p.1).unwrap_or(*p);
                }
            }
            Some(t) => {
                let mut xs = Vec::with_capacity(pts.len());
                let mut ys = Vec::with_capacity(pts.len());
                for p in pts.iter() {
                    let (lon, lat) = to_lonlat(p.0, p.1);
                    xs.push(lon);
                    ys.push(lat);
                }
                let mut zs = vec![0.0; pts.len()];
                if t.transform_coords(&mut xs, &mut ys, &mut zs).is_err() {
                    pts.iter_mut().for_each(|p| *p = (f64::NAN, f64::NAN));
                    return;
                }
                for (i, p) in pts.iter_mut().enumerate() {
                    *p = (xs[i], ys[i]);
                }
            }
        }
    }

    /// Map CRS → WGS 84 lon/lat.
    pub fn map_to_lonlat(&self, pts: &mut [(f64, f64)]) -> Result<(), ReprojectError> {
        match &self.inverse {
            None => {
                for p in pts.iter_mut() {
                    let (x, y) = self.crs.map_to_mercator(p.0, p.1).unwrap_or(*p);
                    *p = to_lonlat(x, y);
                }
                Ok(())
            }
            Some(t) => {
                let mut xs: Vec<f64> = pts.iter().map(|p| p.0).collect();
                let mut ys: Vec<f64> = pts.iter().map(|p| p.1).collect();
                let mut zs = vec![0.0; pts.len()];
                t.transform_coords(&mut xs, &mut ys, &mut zs).map_err(|e| {
                    ReprojectError::OutsideDomain {
                        crs: self.crs.name(),
                        cause: e.to_string(),
                    }
                })?;
                for (i, p) in pts.iter_mut().enumerate() {
                    *p = (xs[i], ys[i]);
                }
                Ok(())
            }
        }
    }

    /// The EPSG:3857 envelope of a bbox in the map CRS (edges densified, so curved edges in
    /// Mercator are covered).
    pub fn mercator_envelope(&self, bbox: [f64; 4]) -> Result<[f64; 4], ReprojectError> {
        const STEPS: usize = 16;
        let mut pts = Vec::with_capacity(4 * STEPS);
        for i in 0..STEPS {
            let t = i as f64 / STEPS as f64;
            let x = bbox[0] + t * (bbox[2] - bbox[0]);
            let y = bbox[1] + t * (bbox[3] - bbox[1]);
            pts.extend([(x, bbox[1]), (x, bbox[3]), (bbox[0], y), (bbox[2], y)]);
        }
        pts.push((bbox[2], bbox[3]));
        self.map_to_lonlat(&mut pts)?;
        let mut env = [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        for (lon, lat) in pts {
            if !lon.is_finite() || !lat.is_finite() {
                continue;
            }
            let (x, y) = to_mercator(lon.clamp(-180.0, 180.0), lat);
            env = [env[0].min(x), env[1].min(y), env[2].max(x), env[3].max(y)];
        }
        if !env[0].is_finite() || env[0] >= env[2] || env[1] >= env[3] {
            return Err(ReprojectError::NoArea {
                crs: self.crs.name(),
            });
        }
        Ok(env)
    }

    /// WGS 84 lon/lat → map CRS.
    pub fn lonlat_to_map(&self, pts: &mut [(f64, f64)]) {
        for p in pts.iter_mut() {
            *p = to_mercator(p.0, p.1);
        }
        self.mercator_to_map(pts);
    }
}

/// EPSG:3857 → pixels through a map CRS: the renderer's projector for non-Mercator maps.
pub struct FrameProjector<'a> {
    pub reprojector: &'a Reprojector,
    pub bbox: [f64; 4],
    pub width: u32,
    pub height: u32,
}

impl cuulong_core::render::Projector for FrameProjector<'_> {
    fn project(&self, points: &mut [(f64, f64)]) {
        self.reprojector.mercator_to_map(points);
        let sx = f64::from(self.width) / (self.bbox[2] - self.bbox[0]);
        let sy = f64::from(self.height) / (self.bbox[3] - self.bbox[1]);
        for p in points {
            *p = ((p.0 - self.bbox[0]) * sx, (self.bbox[3] - p.1) * sy);
        }
    }
}
