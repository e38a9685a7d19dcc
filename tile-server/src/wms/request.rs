//! What every WMS request shares: the version and its dialect, the parameters (names
//! case-insensitive), the map frame, the layers with their styles, and service exceptions.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use cuulong_core::access::Caller;
use cuulong_core::crs::MapCrs;
use cuulong_core::source::LayerSource;

use crate::error::ApiError;
use crate::state::{AppState, ResolveError, Served};
use crate::styles::LayerStyle;

/// Default largest WIDTH/HEIGHT of a GetMap (configurable with `--wms-max-size`).
pub const DEFAULT_MAX_SIZE: u32 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V111,
    V130,
}

impl Version {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Version::V111 => "1.1.1",
            Version::V130 => "1.3.0",
        }
    }
    pub(super) fn crs_param(self) -> &'static str {
        match self {
            Version::V111 => "SRS",
            Version::V130 => "CRS",
        }
    }
}

/// A WMS service exception: standard code (None for a generic error), message, HTTP status.
#[derive(Debug)]
pub struct WmsError {
    pub code: Option<&'static str>,
    pub message: String,
    pub status: StatusCode,
    /// Seconds to wait before retrying (sent as Retry-After), for errors that pass.
    pub retry_after: Option<u64>,
}

impl WmsError {
    /// A failure with no standard code (rendering, encoding), with its status.
    pub(super) fn failed(message: impl Into<String>, status: StatusCode) -> Self {
        Self {
            code: None,
            message: message.into(),
            status,
            retry_after: None,
        }
    }

    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code: Some(code),
            message: message.into(),
            status: StatusCode::BAD_REQUEST,
            retry_after: None,
        }
    }
    pub(super) fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            ..Self::new(code, message)
        }
    }
    pub(super) fn missing(name: &str) -> Self {
        Self::new(
            "MissingParameterValue",
            format!("parameter {name} is required"),
        )
    }
    pub(super) fn invalid(name: &str, message: impl std::fmt::Display) -> Self {
        Self::new("InvalidParameterValue", format!("{name}: {message}"))
    }
}

impl From<ApiError> for WmsError {
    fn from(e: ApiError) -> Self {
        Self {
            retry_after: e.retry_after(),
            ..Self::failed(e.to_string(), e.status())
        }
    }
}

impl From<crate::reproject::ReprojectError> for WmsError {
    fn from(e: crate::reproject::ReprojectError) -> Self {
        use crate::reproject::ReprojectError as R;
        match e {
            R::Setup { .. } => Self::new("InvalidCRS", e.to_string()),
            R::OutsideDomain { .. } | R::NoArea { .. } => Self::invalid("BBOX", e),
        }
    }
}

impl From<crate::work::WorkError> for WmsError {
    fn from(e: crate::work::WorkError) -> Self {
        ApiError::from(e).into()
    }
}

pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

/// Cuts user input quoted in messages to a readable length.
pub(super) fn quote(s: &str) -> String {
    s.chars().take(64).collect()
}

/// The service exception document for `version`.
pub(super) fn exception_report(version: Version, e: &WmsError) -> Response {
    let code = e
        .code
        .map(|c| {
            // 1.1.1 says SRS where 1.3.0 says CRS.
            let c = if version == Version::V111 && c == "InvalidCRS" {
                "InvalidSRS"
            } else {
                c
            };
            format!(" code=\"{c}\"")
        })
        .unwrap_or_default();
    let (body, content_type) = match version {
        Version::V130 => (
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ServiceExceptionReport version=\"1.3.0\" xmlns=\"http://www.opengis.net/ogc\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"http://www.opengis.net/ogc http://schemas.opengis.net/wms/1.3.0/exceptions_1_3_0.xsd\">\n  <ServiceException{code}>{}</ServiceException>\n</ServiceExceptionReport>\n",
                xml_escape(&e.message)
            ),
            "text/xml; charset=utf-8",
        ),
        Version::V111 => (
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE ServiceExceptionReport SYSTEM \"http://schemas.opengis.net/wms/1.1.1/exception_1_1_1.dtd\">\n<ServiceExceptionReport version=\"1.1.1\">\n  <ServiceException{code}>{}</ServiceException>\n</ServiceExceptionReport>\n",
                xml_escape(&e.message)
            ),
            "application/vnd.ogc.se_xml; charset=utf-8",
        ),
    };
    let mut resp = (
        e.status,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response();
    if let Some(secs) = e.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
    }
    resp
}

/// Request parameters: names case-insensitive (kept upper case), values as given.
pub struct Params(HashMap<String, String>);

impl Params {
    pub(crate) fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut map = HashMap::new();
        for (k, v) in pairs {
            map.entry(k.to_ascii_uppercase()).or_insert(v);
        }
        Params(map)
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
    pub(super) fn required(&self, name: &str) -> Result<&str, WmsError> {
        match self.get(name) {
            Some(v) if !v.trim().is_empty() => Ok(v.trim()),
            _ => Err(WmsError::missing(name)),
        }
    }
    pub(super) fn version(&self) -> Version {
        match self.get("VERSION").or_else(|| self.get("WMTVER")) {
            Some(v) if v.starts_with("1.1") || v.starts_with("1.0") => Version::V111,
            _ => Version::V130,
        }
    }
}

/// The map frame of a GetMap or GetFeatureInfo: CRS, bbox (x = east, y = north), size.
pub struct Frame {
    pub crs: MapCrs,
    /// minx, miny, maxx, maxy with x east/longitude and y north/latitude.
    pub bbox: [f64; 4],
    pub width: u32,
    pub height: u32,
}

pub(super) fn parse_frame(p: &Params, version: Version, max_size: u32) -> Result<Frame, WmsError> {
    let crs_name = p.required(version.crs_param())?;
    let crs = MapCrs::parse(crs_name).ok_or_else(|| {
        WmsError::new(
            "InvalidCRS",
            format!(
                "{} '{}' is not offered; use one of {}",
                version.crs_param(),
                quote(crs_name),
                MapCrs::all()
                    .iter()
                    .map(|c| c.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    let raw = p.required("BBOX")?;
    let nums: Vec<f64> = raw
        .split(',')
        .map(|v| v.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| WmsError::invalid("BBOX", format!("'{}' is not four numbers", quote(raw))))?;
    if nums.len() != 4 || nums.iter().any(|v| !v.is_finite()) {
        return Err(WmsError::invalid(
            "BBOX",
            format!("'{}' is not four numbers", quote(raw)),
        ));
    }
    let bbox = if crs.lat_first(version == Version::V130) {
        [nums[1], nums[0], nums[3], nums[2]]
    } else {
        [nums[0], nums[1], nums[2], nums[3]]
    };
    if bbox[0] >= bbox[2] || bbox[1] >= bbox[3] {
        return Err(WmsError::invalid(
            "BBOX",
            "minimum must be less than maximum on both axes",
        ));
    }
    if crs.is_geographic() && (bbox[1] < -90.0 || bbox[3] > 90.0) {
        return Err(WmsError::invalid("BBOX", "latitude outside -90..90"));
    }
    let size = |name: &str| -> Result<u32, WmsError> {
        let raw = p.required(name)?;
        let v: u32 = raw.parse().map_err(|_| {
            WmsError::invalid(name, format!("'{}' is not a positive integer", quote(raw)))
        })?;
        if v == 0 || v > max_size {
            return Err(WmsError::invalid(
                name,
                format!("{v} is out of range 1–{max_size}"),
            ));
        }
        Ok(v)
    };
    Ok(Frame {
        crs,
        bbox,
        width: size("WIDTH")?,
        height: size("HEIGHT")?,
    })
}

/// One requested layer with the style chosen for it.
pub struct Requested {
    pub source: Arc<dyn LayerSource>,
    pub style: Option<LayerStyle>,
}

/// The style a request names for a layer among `options` (default first): none named, or
/// `default`, is the first; a name no option has is StyleNotDefined.
pub(super) fn chosen_style(
    options: Vec<LayerStyle>,
    wanted: &str,
    layer: &str,
) -> Result<Option<LayerStyle>, WmsError> {
    if wanted.is_empty() || wanted.eq_ignore_ascii_case("default") {
        return Ok(options.into_iter().next());
    }
    options
        .into_iter()
        .find(|s| s.name == wanted)
        .map(Some)
        .ok_or_else(|| style_not_defined(wanted, layer))
}

pub(super) fn style_not_defined(wanted: &str, layer: &str) -> WmsError {
    WmsError::new(
        "StyleNotDefined",
        format!(
            "style '{}' is not defined for layer '{layer}'",
            quote(wanted)
        ),
    )
}

/// Layers already resolved, each with its style named `style` (or its default): what map
/// tiles draw.
pub(crate) fn styled(
    state: &AppState,
    sources: Vec<Arc<dyn LayerSource>>,
    style: Option<&str>,
) -> Result<Vec<Requested>, WmsError> {
    sources
        .into_iter()
        .map(|source| {
            let options = state.styles.load().for_layer(source.meta());
            let style = chosen_style(options, style.unwrap_or(""), source.meta().id.as_str())?;
            Ok(Requested { source, style })
        })
        .collect()
}

/// LAYERS and STYLES, resolved against what the caller may see (the shared layer-list reader:
/// deduplicated, capped, audited); a style is paired with its layer's first mention.
pub(super) fn parse_layers(
    state: &AppState,
    caller: &Caller,
    p: &Params,
    layers_param: &'static str,
    with_styles: bool,
) -> Result<Vec<Requested>, WmsError> {
    let list = p.required(layers_param)?;
    let endpoint = if with_styles {
        "wms/GetMap"
    } else {
        "wms/GetFeatureInfo"
    };
    let resolved = state
        .resolve_positions(caller, layers_param, list, endpoint)
        .map_err(|e| match e {
            ResolveError::Unknown(id) => WmsError::not_found(
                "LayerNotDefined",
                format!("layer '{}' is not defined", quote(&id)),
            ),
            other => WmsError::invalid(layers_param, other),
        })?;
    // TIME: the day whose admin units to draw or query (default today's).
    let day = p
        .get("TIME")
        .map(|t| {
            crate::http::day_param("TIME", t).map_err(|e| {
                WmsError::new(
                    "InvalidDimensionValue",
                    format!("TIME: {}", e.to_string().trim_start_matches("TIME: ")),
                )
            })
        })
        .transpose()?;
    let resolved: Vec<(usize, Served)> = resolved
        .into_iter()
        .map(|(position, index)| (position, state.on_day(vec![index], day).remove(0)))
        .collect();
    let mentioned = list.split(',').count();
    let styles: Vec<&str> = match p.get("STYLES").map(str::trim) {
        Some(s) if with_styles && !s.is_empty() => s.split(',').map(str::trim).collect(),
        _ => Vec::new(),
    };
    if !styles.is_empty() && styles.len() != mentioned {
        return Err(WmsError::invalid(
            "STYLES",
            format!(
                "{} styles for {mentioned} layers (give one per layer, or none)",
                styles.len(),
            ),
        ));
    }
    resolved
        .into_iter()
        .map(|(position, index)| {
            let name = index.meta().id.as_str();
            let options = state.styles.load().for_layer(index.meta());
            let wanted = styles.get(position).copied().unwrap_or("");
            let style = chosen_style(options, wanted, name)?;
            Ok(Requested {
                source: index,
                style,
            })
        })
        .collect()
}
