//! GetMap and GetLegendGraphic: images drawn by `cuulong_core::render` with the layers'
//! MapLibre styles.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use cuulong_core::access::Caller;
use cuulong_core::crs::MapCrs;
use cuulong_core::render::{self, DrawLayer, MapRequest, MercatorView};
use cuulong_core::style::{LayerKind, Rgba};
use tiny_skia::Pixmap;

use super::request::{
    chosen_style, parse_frame, parse_layers, quote, style_not_defined, Params, Requested, Version,
    WmsError,
};
use crate::error::ApiError;
use crate::reproject::{FrameProjector, Reprojector};
use crate::state::{AppState, Layers};
use crate::work::render_bytes;
use cuulong_core::interrupt::Interrupt;

#[derive(Clone, Copy, PartialEq, Eq)]
enum ImageFormat {
    Png,
    Jpeg,
}

impl ImageFormat {
    fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        let mime = s.split(';').next().unwrap_or("").trim();
        match mime {
            "image/png" | "png" | "image/png8" => Some(ImageFormat::Png),
            "image/jpeg" | "image/jpg" | "jpeg" | "jpg" => Some(ImageFormat::Jpeg),
            _ => None,
        }
    }
    fn mime(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
        }
    }
}

fn parse_format(p: &Params) -> Result<ImageFormat, WmsError> {
    let raw = p.get("FORMAT").unwrap_or("image/png");
    ImageFormat::parse(raw).ok_or_else(|| {
        WmsError::new(
            "InvalidFormat",
            format!(
                "FORMAT '{}' is not offered (image/png, image/jpeg)",
                quote(raw)
            ),
        )
    })
}

fn parse_bgcolor(p: &Params) -> Result<Rgba, WmsError> {
    let Some(raw) = p.get("BGCOLOR") else {
        return Ok(Rgba::from_u8(255, 255, 255, 255));
    };
    let hex = raw
        .trim()
        .strip_prefix("0x")
        .or_else(|| raw.trim().strip_prefix("0X"))
        .or_else(|| raw.trim().strip_prefix('#'))
        .unwrap_or(raw.trim());
    if hex.len() != 6 {
        return Err(WmsError::invalid(
            "BGCOLOR",
            format!("'{}' is not 0xRRGGBB", quote(raw)),
        ));
    }
    Rgba::parse(&format!("#{hex}"))
        .ok_or_else(|| WmsError::invalid("BGCOLOR", format!("'{}' is not 0xRRGGBB", quote(raw))))
}

fn parse_transparent(p: &Params) -> Result<bool, WmsError> {
    match p.get("TRANSPARENT").map(|s| s.trim().to_ascii_uppercase()) {
        None => Ok(false),
        Some(s) if s == "TRUE" => Ok(true),
        Some(s) if s == "FALSE" || s.is_empty() => Ok(false),
        Some(s) => Err(WmsError::invalid(
            "TRANSPARENT",
            format!("'{}' is not TRUE or FALSE", quote(&s)),
        )),
    }
}

/// Encodes a rendered pixmap. PNG keeps alpha (transparent maps); JPEG is flattened onto the
/// background colour.
fn encode(pixmap: &Pixmap, format: ImageFormat, bg: Rgba) -> Result<Vec<u8>, String> {
    match format {
        ImageFormat::Png => {
            let (w, h) = (pixmap.width(), pixmap.height());
            // An opaque map (TRANSPARENT=FALSE) goes out as RGB: a quarter less to compress.
            let opaque = pixmap.data().chunks_exact(4).all(|p| p[3] == 255);
            let channels = if opaque { 3 } else { 4 };
            let mut data = Vec::with_capacity((w * h * channels) as usize);
            if opaque {
                // Premultiplied by 255 is the colour itself: the bytes go out as they are.
                data.resize((w * h * 3) as usize, 0);
                for (rgb, px) in data.chunks_exact_mut(3).zip(pixmap.data().chunks_exact(4)) {
                    rgb.copy_from_slice(&px[..3]);
                }
            } else {
                for px in pixmap.pixels() {
                    let c = px.demultiply();
                    data.extend_from_slice(&[c.red(), c.green(), c.blue(), c.alpha()]);
                }
            }
            // Room for a typical map's PNG (a third of the raw pixels), not grown from empty.
            let mut out = Vec::with_capacity(data.len() / 3);
            let mut enc = png::Encoder::new(&mut out, w, h);
            enc.set_color(if opaque {
                png::ColorType::Rgb
            } else {
                png::ColorType::Rgba
            });
            enc.set_depth(png::BitDepth::Eight);
            // The png crate's fastest setting (fdeflate with the Up filter, where Fast tries
            // five filters on every row): a map is drawn for one request and crosses a LAN;
            // the tile cache keeps what is asked again.
            enc.set_compression(png::Compression::Fastest);
            let mut writer = enc.write_header().map_err(|e| e.to_string())?;
            writer.write_image_data(&data).map_err(|e| e.to_string())?;
            writer.finish().map_err(|e| e.to_string())?;
            Ok(out)
        }
        ImageFormat::Jpeg => {
            let [br, bgc, bb, _] = bg.to_u8();
            let mut rgb = Vec::with_capacity((pixmap.width() * pixmap.height() * 3) as usize);
            for px in pixmap.pixels() {
                let c = px.demultiply();
                let a = u16::from(c.alpha());
                let mix =
                    |v: u8, b: u8| ((u16::from(v) * a + u16::from(b) * (255 - a)) / 255) as u8;
                rgb.extend_from_slice(&[mix(c.red(), br), mix(c.green(), bgc), mix(c.blue(), bb)]);
            }
            let mut out = Vec::new();
            let enc = jpeg_encoder::Encoder::new(&mut out, 85);
            enc.encode(
                &rgb,
                u16::try_from(pixmap.width()).map_err(|e| e.to_string())?,
                u16::try_from(pixmap.height()).map_err(|e| e.to_string())?,
                jpeg_encoder::ColorType::Rgb,
            )
            .map_err(|e| e.to_string())?;
            Ok(out)
        }
    }
}

/// An image; `public` only when every layer in it is open (see the tile handler).
fn image_response(bytes: impl Into<Bytes>, format: ImageFormat, public: bool) -> Response {
    let cache = if public {
        "public, max-age=60"
    } else {
        "private, max-age=60"
    };
    let body: Bytes = bytes.into();
    (
        [
            (header::CONTENT_TYPE, format.mime()),
            (header::CACHE_CONTROL, cache),
            (header::VARY, "Authorization"),
        ],
        body,
    )
        .into_response()
}

fn all_open<'a>(mut metas: impl Iterator<Item = &'a cuulong_core::LayerMeta>) -> bool {
    metas.all(|m| m.access == cuulong_core::Access::Open)
}

/// Renders a frame: the shared part of GetMap (and tests).
struct Rendered {
    pixmap: Pixmap,
}

fn render_frame(
    frame: &super::request::Frame,
    layers: &[super::request::Requested],
    background: Option<Rgba>,
    interrupt: &Interrupt,
) -> Result<Rendered, WmsError> {
    let reprojector = Reprojector::cached(frame.crs)?;
    let bounds = reprojector.mercator_envelope(frame.bbox)?;
    // Mercator metres per pixel at the map's centre, for the style zoom and generalisation.
    let metres_per_pixel = if frame.crs == MapCrs::WebMercator {
        (frame.bbox[2] - frame.bbox[0]) / f64::from(frame.width)
    } else {
        (bounds[2] - bounds[0]) / f64::from(frame.width)
    };
    let draw: Vec<DrawLayer<'_>> = layers
        .iter()
        .filter_map(|r| {
            Some(DrawLayer {
                source: &*r.source,
                style_layers: r.style.as_ref()?.layers(),
            })
        })
        .collect();
    let mercator;
    let reprojected;
    let projector: &dyn render::Projector = if frame.crs == MapCrs::WebMercator {
        mercator = MercatorView {
            bbox: frame.bbox,
            width: frame.width,
            height: frame.height,
        };
        &mercator
    } else {
        reprojected = FrameProjector {
            reprojector: &reprojector,
            bbox: frame.bbox,
            width: frame.width,
            height: frame.height,
        };
        &reprojected
    };
    let req = MapRequest {
        width: frame.width,
        height: frame.height,
        bounds,
        metres_per_pixel,
        projector,
        background,
    };
    Ok(Rendered {
        pixmap: render::render_until(&req, &draw, interrupt).map_err(ApiError::from)?,
    })
}

/// A map tile: the frame drawn with the layers' styles and encoded as PNG (transparent where
/// nothing is drawn) or JPEG (on white). The caller reserves the render memory.
pub(crate) fn tile_image(
    frame: &super::request::Frame,
    layers: &[super::request::Requested],
    jpeg: bool,
    interrupt: &Interrupt,
) -> Result<Vec<u8>, WmsError> {
    let white = Rgba::from_u8(255, 255, 255, 255);
    let (format, background) = if jpeg {
        (ImageFormat::Jpeg, Some(white))
    } else {
        (ImageFormat::Png, None)
    };
    let r = render_frame(frame, layers, background, interrupt)?;
    encode(&r.pixmap, format, white).map_err(|e| {
        WmsError::failed(
            format!("could not encode the image: {e}"),
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        )
    })
}

pub async fn get_map(
    state: &Arc<AppState>,
    caller: &Caller,
    p: &Params,
    version: Version,
) -> Result<Response, WmsError> {
    let frame = parse_frame(p, version, state.wms_max_size)?;
    // Read before the styles are chosen: should they be reloaded in between, an image drawn
    // with the new ones goes under the old generation, which no later request asks for.
    let generation = state.styles.load().generation();
    let layers = parse_layers(state, caller, p, "LAYERS", true)?;
    let format = parse_format(p)?;
    let transparent = parse_transparent(p)?;
    let bg = parse_bgcolor(p)?;
    let background = (!transparent || format == ImageFormat::Jpeg).then_some(bg);
    let public = all_open(layers.iter().map(|l| l.source.meta()));
    // Tiled WMS (a client asking tile by tile, again and again as users pan): answered from
    // the tile cache when drawn before with the same layer versions and styles.
    let key = tiled(&frame)
        .then(|| {
            state
                .cache
                .as_ref()
                .map(|_| cache_key(generation, p, &frame, &layers, format, transparent, bg))
        })
        .flatten();
    if let Some(key) = &key {
        if let Some(bytes) = state.cache.as_ref().and_then(|c| c.get(key)) {
            state.metrics.wms_cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(image_response(bytes, format, public));
        }
        state
            .metrics
            .wms_cache_misses
            .fetch_add(1, Ordering::Relaxed);
    }
    // The image's buffers come out of the render budget before they are allocated.
    let memory = state
        .work
        .reserve(render_bytes(frame.width, frame.height))
        .await?;
    let cache = key.and_then(|k| Some((k, state.cache.clone()?)));
    let bytes = state
        .work
        .run(move |interrupt| -> Result<Bytes, WmsError> {
            let _memory = memory;
            // Requests for one new tile queue here together: the first draws it, the others
            // find it in the cache when their turn comes.
            if let Some(bytes) = cache.as_ref().and_then(|(k, c)| c.get(k)) {
                return Ok(bytes);
            }
            let r = render_frame(&frame, &layers, background, interrupt)?;
            let bytes = Bytes::from(encode(&r.pixmap, format, bg).map_err(|e| {
                WmsError::failed(
                    format!("could not encode the image: {e}"),
                    axum::http::StatusCode::BAD_REQUEST,
                )
            })?);
            if let Some((k, c)) = cache {
                c.insert(k, bytes.clone());
            }
            Ok(bytes)
        })
        .await?;
    Ok(image_response(bytes, format, public))
}

/// Whether a GetMap looks like one tile of a tiled WMS client (OpenLayers' `TileWMS`,
/// Leaflet's `tileLayer.wms` and GeoWebCache asking tile by tile): a square of 256 or
/// 512 pixels. Maps of other sizes are one-off views and are not kept.
fn tiled(frame: &super::request::Frame) -> bool {
    frame.width == frame.height && matches!(frame.width, 256 | 512)
}

/// What makes a GetMap's bytes: the layers and their versions, the style set's generation and
/// each layer's style, the day (`TIME`), CRS, box, size, format, transparency, background.
#[allow(clippy::too_many_arguments)]
fn cache_key(
    generation: u64,
    p: &Params,
    frame: &super::request::Frame,
    layers: &[Requested],
    format: ImageFormat,
    transparent: bool,
    bg: Rgba,
) -> String {
    let sources: Vec<_> = layers.iter().map(|l| l.source.clone()).collect();
    let styles: Vec<&str> = layers
        .iter()
        .map(|l| l.style.as_ref().map_or("-", |s| s.name.as_str()))
        .collect();
    let day = p.get("TIME").map(str::trim).unwrap_or("");
    format!(
        "wms/{}/{}/{}/{day}/{:?}/{:?}/{}x{}/{}/{transparent}/{:?}",
        crate::tiles::version_token(&sources),
        generation,
        styles.join(","),
        frame.crs,
        frame.bbox,
        frame.width,
        frame.height,
        format.mime(),
        bg.to_u8(),
    )
}

/// EXCEPTIONS=INIMAGE (the message drawn into an image of the requested size, within
/// `--wms-max-size` and the render budget) or BLANK. `None` when no image can be made.
pub async fn exception_image(
    state: &Arc<AppState>,
    p: &Params,
    version: Version,
    e: &WmsError,
    blank: bool,
) -> Option<Response> {
    let format = p.get("FORMAT").and_then(ImageFormat::parse)?;
    let max = state.wms_max_size;
    let dim = |name: &str| {
        p.get(name)
            .and_then(|v| v.trim().parse::<u32>().ok())
            .filter(|v| (1..=max).contains(v))
            .unwrap_or(256.min(max))
    };
    let (w, h) = (dim("WIDTH"), dim("HEIGHT"));
    let transparent = parse_transparent(p).unwrap_or(false);
    let bg = parse_bgcolor(p).unwrap_or(Rgba::from_u8(255, 255, 255, 255));
    let message = (!blank).then(|| {
        let code = e.code.unwrap_or("error");
        format!("WMS {} {code}: {}", version.as_str(), e.message)
    });
    let memory = state.work.reserve(render_bytes(w, h)).await.ok()?;
    let bytes = state
        .work
        .run(
            move |_| -> Result<Option<Vec<u8>>, crate::work::WorkError> {
                let _memory = memory;
                let Some(mut pixmap) = Pixmap::new(w, h) else {
                    return Ok(None);
                };
                if !transparent || format == ImageFormat::Jpeg {
                    if let Some(c) = tiny_skia::Color::from_rgba(bg.r, bg.g, bg.b, 1.0) {
                        pixmap.fill(c);
                    }
                }
                if let Some(message) = message {
                    render::draw_text_block(&mut pixmap, &message, 12.0, Rgba::BLACK, 6.0);
                }
                Ok(encode(&pixmap, format, bg).ok())
            },
        )
        .await
        .ok()??;
    Some(image_response(bytes, format, false))
}

/// GetLegendGraphic: one row per class (swatch, code, Vietnamese and English names) when the
/// style has a legend; else one row per style layer.
pub async fn get_legend(
    state: &Arc<AppState>,
    visible: &Layers,
    p: &Params,
) -> Result<Response, WmsError> {
    let name = p.required("LAYER")?;
    let index = visible.get(name).cloned().ok_or_else(|| {
        WmsError::not_found(
            "LayerNotDefined",
            format!("layer '{}' is not defined", quote(name)),
        )
    })?;
    let format = p.get("FORMAT").unwrap_or("image/png");
    if ImageFormat::parse(format) != Some(ImageFormat::Png) {
        return Err(WmsError::new(
            "InvalidFormat",
            format!("FORMAT '{}': legends are image/png", quote(format)),
        ));
    }
    let options = state.styles.load().for_layer(index.meta());
    let wanted = p.get("STYLE").map(str::trim).unwrap_or("");
    let style =
        chosen_style(options, wanted, name)?.ok_or_else(|| style_not_defined(wanted, name))?;
    let rows = legend_rows(index.meta(), &style);
    let bytes = state
        .work
        .run(move |_| -> Result<Vec<u8>, WmsError> {
            let pixmap = render::render_legend(&rows);
            encode(&pixmap, ImageFormat::Png, Rgba::from_u8(255, 255, 255, 255)).map_err(|e| {
                WmsError::failed(
                    format!("legend failed: {e}"),
                    axum::http::StatusCode::BAD_REQUEST,
                )
            })
        })
        .await?;
    Ok(image_response(
        bytes,
        ImageFormat::Png,
        all_open(std::iter::once(index.meta())),
    ))
}

/// The rows of a layer's legend in a style.
pub fn legend_rows(
    meta: &cuulong_core::LayerMeta,
    style: &crate::styles::LayerStyle,
) -> Vec<render::LegendRow> {
    let classes: Vec<render::LegendRow> = style
        .style
        .legend
        .iter()
        .filter(|e| e.source_layer == style.source_layer)
        .map(|e| render::LegendRow {
            kind: style
                .layers()
                .iter()
                .map(|l| l.kind)
                .find(|k| *k != LayerKind::Symbol)
                .unwrap_or(LayerKind::Fill),
            color: e.color,
            label: if e.en.is_empty() {
                format!("{} {}", e.code, e.vi)
            } else {
                format!("{} {} ({})", e.code, e.vi, e.en)
            },
        })
        .collect();
    if !classes.is_empty() {
        return classes;
    }
    let zoom = 12.0;
    style
        .layers()
        .iter()
        .filter(|l| l.kind != LayerKind::Symbol && l.visible)
        .filter_map(|l| {
            let prop = match l.kind {
                LayerKind::Fill => "fill-color",
                LayerKind::Line => "line-color",
                _ => "circle-color",
            };
            let color = render::constant_color(l, prop, zoom)?;
            if color.a == 0.0 {
                return None;
            }
            Some(render::LegendRow {
                kind: l.kind,
                color,
                label: format!("{} / {}", meta.title_vi, meta.title_en),
            })
        })
        .take(1)
        .collect()
}
