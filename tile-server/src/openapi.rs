//! `GET /api`: the OpenAPI 3.0 document of the OGC API – Features, Tiles and query endpoints, built
//! from the same constants the handlers use (limits, formats, CRS list, the caller's visible
//! collections and their fields), self-contained (no remote `$ref`s) so offline tools read it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value as Json};

use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::AppState;

fn schema_ref(name: &str) -> Json {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn response(description: &str, content: &[(&str, Json)]) -> Json {
    let mut c = serde_json::Map::new();
    for (mime, schema) in content {
        c.insert((*mime).to_owned(), json!({"schema": schema}));
    }
    json!({"description": description, "content": c})
}

fn error(description: &str) -> Json {
    response(
        description,
        &[("application/json", schema_ref("exception"))],
    )
}

/// A query parameter; an optional one may be sent empty (it is then not given).
fn query_param(name: &str, description: &str, schema: Json, required: bool) -> Json {
    let mut p = json!({"name": name, "in": "query", "description": description, "required": required,
           "schema": schema, "style": "form", "explode": false});
    if !required {
        p["allowEmptyValue"] = json!(true);
    }
    p
}

/// `datetime`: an RFC 3339 date or date-time, or an interval of two (either end open with
/// `..` or nothing); empty is no selection.
const DATETIME_PATTERN: &str = concat!(
    r"^$|^(\.\.|[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?)?",
    r"(/(\.\.|[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?)?)?$"
);

/// `from`/`to` of the observation endpoints: an RFC 3339 time or a date; empty is not given.
const TIME_PATTERN: &str = r"^$|^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?$";

/// An enumeration of values, and the empty value (a parameter given empty is not given).
fn with_empty(values: &[String]) -> Vec<String> {
    values.iter().cloned().chain([String::new()]).collect()
}

/// `layers`: a comma list of up to 64 layer ids; empty = every visible layer.
fn layers_param() -> Json {
    query_param(
        "layers",
        "Comma list of up to 64 layer ids (a repeated id counts once); empty = every layer the caller may see",
        json!({"type": "string", "pattern": "^([a-z][a-z0-9_]{0,47}(,[a-z][a-z0-9_]{0,47}){0,63})?$"}),
        false,
    )
}

fn f_param() -> Json {
    query_param(
        "f",
        "Response format (else from the Accept header).",
        json!({"type": "string", "enum": ["json", "html", ""]}),
        false,
    )
}

/// The operation for a JSON-or-HTML resource.
fn json_or_html(summary: &str, id: &str, schema: &str, extra_params: Vec<Json>) -> Json {
    let mut params = vec![f_param()];
    params.extend(extra_params);
    json!({"get": {
        "summary": summary, "operationId": id, "parameters": params,
        "responses": {
            "200": response(summary, &[("application/json", schema_ref(schema)), ("text/html", json!({"type": "string"}))]),
            "400": error("Invalid parameter"),
            "404": error("Not found"),
            "406": error("Format not available"),
        }
    }})
}

/// The document for `base`, listing `collections` (ids the caller may see) and their fields.
pub fn document(
    base: &str,
    collections: &[(String, Vec<(String, &'static str)>)],
    max_limit: usize,
    grids: &[&str],
) -> Json {
    let ids: Vec<&str> = collections.iter().map(|(id, _)| id.as_str()).collect();
    let collection_id = json!({"name": "collectionId", "in": "path", "required": true,
        "description": "Layer id", "schema": {"type": "string", "enum": ids}});
    let crs_values: Vec<String> = crate::features::crs_uris();
    let bbox = query_param(
        "bbox",
        "minx,miny,maxx,maxy (or with minz/maxz: six numbers), in bbox-crs; CRS84 lon/lat by default. Geographic coordinates within the world; min ≤ max",
        json!({"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}),
        false,
    );
    let items_params = vec![
        collection_id.clone(),
        f_param(),
        bbox,
        query_param(
            "bbox-crs",
            "CRS of bbox",
            json!({"type": "string", "enum": with_empty(&crs_values)}),
            false,
        ),
        query_param(
            "crs",
            "CRS of the response geometry",
            json!({"type": "string", "enum": with_empty(&crs_values)}),
            false,
        ),
        query_param(
            "limit",
            "Page size",
            json!({"type": "integer", "minimum": 1, "maximum": max_limit, "default": 100}),
            false,
        ),
        query_param(
            "offset",
            "Features to skip",
            json!({"type": "integer", "minimum": 0, "maximum": crate::features::MAX_OFFSET, "default": 0}),
            false,
        ),
        query_param(
            "filter",
            "CQL2 text filter: comparisons, AND/OR/NOT, LIKE, IN, BETWEEN, IS NULL, S_INTERSECTS, S_WITHIN, S_DWITHIN (metres), … on the queryables",
            json!({"type": "string"}),
            false,
        ),
        query_param(
            "filter-lang",
            "Filter language",
            json!({"type": "string", "enum": ["cql2-text", ""]}),
            false,
        ),
        query_param(
            "datetime",
            "Instant or interval (RFC 3339 date or date-time; start/end with '..' or nothing for an open end; the start not after the end) on the layer's date field or validity period; empty = no selection",
            json!({"type": "string", "pattern": DATETIME_PATTERN}),
            false,
        ),
    ];
    let geojson_item = response(
        "A feature",
        &[
            ("application/geo+json", schema_ref("featureGeoJSON")),
            ("text/html", json!({"type": "string"})),
        ],
    );
    let items = response(
        "Features",
        &[
            (
                "application/geo+json",
                schema_ref("featureCollectionGeoJSON"),
            ),
            ("text/html", json!({"type": "string"})),
        ],
    );
    // Each collection's items also get their own path, with one equality parameter per field
    // (what `?lu_code=CLN` accepts) — as pygeoapi and pg_featureserv describe theirs.
    let mut per_collection = serde_json::Map::new();
    for (id, fields) in collections {
        let mut params: Vec<Json> = items_params[1..].to_vec();
        for (name, kind) in fields {
            params.push(query_param(
                name,
                &format!("Features whose '{name}' equals this value (empty = no filter)"),
                json!({"type": kind}),
                false,
            ));
        }
        per_collection.insert(
            format!("/collections/{id}/items"),
            json!({"get": {
                "summary": format!("Features of {id}"),
                "operationId": format!("getFeatures_{id}"),
                "parameters": params,
                "responses": {"200": items.clone(), "400": error("Invalid parameter"), "404": error("Not found")}}}),
        );
    }
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "cuulong — Bến Tre geospatial data",
            "description": "OGC API – Features (Part 1 core, GeoJSON, HTML, OpenAPI 3.0; Part 2 CRS; Part 3 CQL2 text filters) and spatial queries over the layers of Bến Tre province. Layers that need an API key are listed only for callers presenting one (Authorization: Bearer KEY or ?key=).",
            "version": env!("CARGO_PKG_VERSION"),
            "license": {"name": "Apache-2.0"},
        },
        "servers": [{"url": base}],
        "paths": {
            "/": json_or_html("Landing page", "getLandingPage", "landingPage", vec![]),
            "/conformance": json_or_html("Conformance classes", "getConformance", "confClasses", vec![]),
            "/api": {"get": {"summary": "This document", "operationId": "getApi",
                "responses": {"200": response("OpenAPI 3.0", &[("application/vnd.oai.openapi+json;version=3.0", json!({"type": "object"}))])}}},
            "/collections": json_or_html("Collections", "getCollections", "collections", vec![]),
            "/collections/{collectionId}": json_or_html("A collection", "describeCollection", "collection", vec![collection_id.clone()]),
            "/collections/{collectionId}/queryables": {"get": {
                "summary": "Queryable properties (JSON Schema)", "operationId": "getQueryables",
                "parameters": [collection_id.clone(), f_param()],
                "responses": {
                    "200": response("Queryables", &[("application/schema+json", json!({"type": "object"})), ("text/html", json!({"type": "string"}))]),
                    "400": error("Invalid parameter"), "404": error("Not found"),
                }}},
            "/collections/{collectionId}/items": {"get": {
                "summary": "Features of a collection", "operationId": "getFeatures",
                "parameters": items_params,
                "responses": {"200": items, "400": error("Invalid parameter"), "404": error("Not found")}}},
            "/collections/{collectionId}/items/{featureId}": {"get": {
                "summary": "One feature", "operationId": "getFeature",
                "parameters": [collection_id,
                    {"name": "featureId", "in": "path", "required": true, "schema": {"type": "string"}},
                    f_param(),
                    query_param("crs", "CRS of the response geometry", json!({"type": "string", "enum": with_empty(&crate::features::crs_uris())}), false)],
                "responses": {"200": geojson_item, "400": error("Invalid parameter"), "404": error("Not found")}}},
        },
        "components": {"schemas": schemas()},
    });
    if let Some(paths) = doc["paths"].as_object_mut() {
        paths.extend(per_collection);
        paths.extend(query_paths());
        paths.extend(tiles_paths(&ids, grids));
    }
    doc
}

/// The spatial queries: what is at a point, how much of each class is inside an area.
fn query_paths() -> serde_json::Map<String, Json> {
    let paths = json!({
            "/query/point": {"get": {
                "summary": "Every visible feature at or near a point, across layers, nearest first",
                "operationId": "queryPoint",
                "parameters": [
                    query_param("lon", "Longitude (WGS 84)", json!({"type": "number", "minimum": -180, "maximum": 180}), true),
                    query_param("lat", "Latitude (WGS 84)", json!({"type": "number", "minimum": -85, "maximum": 85}), true),
                    layers_param(),
                    query_param("radius_m", "Search radius in metres", json!({"type": "number", "minimum": 0, "maximum": crate::query::MAX_RADIUS_M}), false),
                    query_param("datetime", "The day whose administrative units to answer with (default today)", json!({"type": "string", "format": "date"}), false),
                ],
                "responses": {"200": response("Features here", &[("application/json", schema_ref("pointResult"))]),
                    "400": error("Invalid parameter"), "404": error("Unknown layer")}}},
            "/query/summary": {
                "get": {"summary": "Area or length per class inside an administrative unit", "operationId": "summaryByAdmin",
                    "parameters": [
                        query_param("admin", "GSO code of the province, a district or a commune", json!({"type": "string", "pattern": "^[0-9]{2,5}$", "example": "28810"}), true),
                        layers_param(),
                        query_param("datetime", "The day whose administrative units to use (default today)", json!({"type": "string", "format": "date"}), false),
                    ],
                    "responses": {"200": response("Summary", &[("application/json", schema_ref("summary"))]),
                        "400": error("Invalid parameter"), "404": error("Unknown unit or layer"), "413": error("Body too large")}},
                "post": {"summary": "Area or length per class inside a GeoJSON polygon", "operationId": "summaryByPolygon",
                    "parameters": [layers_param()],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": schema_ref("polygon")}}},
                    "responses": {"200": response("Summary", &[("application/json", schema_ref("summary"))]),
                        "400": error("Invalid parameter"), "404": error("Unknown layer"), "413": error("Body too large")}},
            },
            "/sta/v1.1": {"get": {
                "summary": "OGC SensorThings API v1.1: the entity sets and the conformance classes served",
                "operationId": "staRoot",
                "responses": {"200": response("Service root", &[("application/json", json!({"type": "object", "required": ["value", "serverSettings"]}))])}}},
            "/sta/v1.1/{resource}": {"get": {
                "summary": "A SensorThings entity set or entity (Things, Things(1), Datastreams, Observations, …; deeper paths such as Things(1)/Datastreams work the same way)",
                "operationId": "staRead",
                "parameters": [
                    {"name": "resource", "in": "path", "required": true, "description": "Entity set, optionally with (id)", "schema": {"type": "string", "example": "Datastreams(1)"}},
                    query_param("$filter", "OData filter (STA v1.1 §9.3.3.5), at most 4 KiB, 32 levels", json!({"type": "string", "example": "result gt 4"}), false),
                    query_param("$orderby", "Properties or expressions, asc or desc", json!({"type": "string", "example": "phenomenonTime desc"}), false),
                    query_param("$top", "Page size (default 100, at most 100 000)", json!({"type": "integer", "minimum": 0, "maximum": crate::sta::MAX_TOP}), false),
                    query_param("$skip", "Entities to skip", json!({"type": "integer", "minimum": 0}), false),
                    query_param("$count", "Include @iot.count", json!({"type": "boolean"}), false),
                    query_param("$select", "Properties to return", json!({"type": "string", "example": "phenomenonTime,result"}), false),
                    query_param("$expand", "Related entities, nested with options (at most 5 levels, 24 paths)", json!({"type": "string", "example": "Datastreams($top=2)"}), false),
                    query_param("$resultFormat", "dataArray for Observations", json!({"type": "string", "enum": ["dataArray", "default"]}), false),
                ],
                "responses": {"200": response("Entities", &[("application/json", json!({"type": "object"})), ("text/plain", json!({"type": "string"}))]),
                    "400": error("Invalid parameter"), "404": error("No such entity")}},
                "post": {
                "summary": "Create Observations (with resource = Observations or CreateObservations); needs an API key with the scope observations:write",
                "operationId": "staCreate",
                "parameters": [{"name": "resource", "in": "path", "required": true, "schema": {"type": "string", "enum": ["Observations", "CreateObservations"]}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"oneOf": [{"type": "object"}, {"type": "array"}]}}}},
                "responses": {"201": response("Created", &[("application/json", json!({"oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "string"}}]}))]),
                    "400": error("Invalid observation"), "401": error("No valid API key"), "403": error("The key may not write"),
                    "413": error("Body too large"), "503": error("Not loaded yet, or the store is away")}}},
            "/api/observations/{datastream}/aggregates": {"get": {
                "summary": "A datastream's readings per local day (UTC+7) or per tidal cycle (low water to low water): count, flagged, min, max and when, mean, hours above each limit, longest gap. Good readings only; a reading stands for the time to the next, at most 1 h",
                "operationId": "observationAggregates",
                "parameters": [
                    {"name": "datastream", "in": "path", "required": true, "description": "Datastream id (SensorThings @iot.id)", "schema": {"type": "integer", "minimum": 0, "maximum": 4294967295u64, "example": 1}},
                    query_param("period", "day (default) or tide", json!({"type": "string", "enum": ["day", "tide", ""]}), false),
                    query_param("from", "Start (RFC 3339 time, or a date: its local midnight); default 30 days before `to`", json!({"type": "string", "pattern": TIME_PATTERN}), false),
                    query_param("to", "End, exclusive; default the end of the local day of the latest reading", json!({"type": "string", "pattern": TIME_PATTERN}), false),
                    query_param("limits", "Comma list of the property's limit codes (network file) or numbers, at most 32; default every limit of the property", json!({"type": "string", "pattern": "^$|^([a-z_]{1,32}|[0-9]{1,4}(\\.[0-9]{1,4})?)(,([a-z_]{1,32}|[0-9]{1,4}(\\.[0-9]{1,4})?)){0,31}$", "example": "lua,2.5"}), false),
                    query_param("f", "json (default) or csv", json!({"type": "string", "enum": ["json", "csv", ""]}), false),
                ],
                "responses": {"200": response("Aggregates", &[("application/json", json!({"type": "object", "required": ["datastream", "period", "buckets"]})), ("text/csv", json!({"type": "string"}))]),
                    "400": error("Invalid parameter"), "404": error("No such datastream")}}},
            "/api/alerts": {"get": {
                "summary": "Salinity alerts (open and closed) of the datastreams the caller may see, newest first: station, value, limit, peak, and the land in the station's zone by commune and land-use class",
                "operationId": "alerts",
                "parameters": [
                    query_param("state", "open, closed or all (default)", json!({"type": "string", "enum": ["open", "closed", "all", ""]}), false),
                    query_param("station", "Station code", json!({"type": "string", "maxLength": 64, "example": "BT03"}), false),
                    query_param("from", "Only alerts open at some time at or after this", json!({"type": "string", "pattern": TIME_PATTERN}), false),
                    query_param("to", "Only alerts opened before this", json!({"type": "string", "pattern": TIME_PATTERN}), false),
                    query_param("limit", "At most this many (default 1000)", json!({"type": "integer", "minimum": 1, "maximum": crate::salinity::api::MAX_ALERTS}), false),
                    query_param("f", "json (default) or csv", json!({"type": "string", "enum": ["json", "csv", ""]}), false),
                ],
                "responses": {"200": response("Alerts", &[("application/json", json!({"type": "object", "required": ["numberMatched", "alerts"]})), ("text/csv", json!({"type": "string"}))]),
                    "400": error("Invalid parameter")}}},
            "/api/salinity/fronts": {"get": {
                "summary": "Each estuary's stations (km from the mouth), the 1‰ and 4‰ fronts interpolated between them (an approximation), and the rice land seaward of the rice front per commune",
                "operationId": "salinityFronts",
                "responses": {"200": response("Fronts", &[("application/json", json!({"type": "object", "required": ["estuaries"]}))]),
                    "404": error("No salinity rules configured"), "503": error("Layers still loading")}}},
            "/api/salinity/zones": {"get": {
                "summary": "Each station's zone (GeoJSON) and the land in it per commune and land-use class, for the communes of a day",
                "operationId": "salinityZones",
                "parameters": [
                    query_param("datetime", "The day whose communes to use (default today)", json!({"type": "string", "format": "date"}), false),
                ],
                "responses": {"200": response("Zones", &[("application/json", json!({"type": "object", "required": ["type", "features"]}))]),
                    "400": error("Invalid parameter"), "404": error("No salinity rules configured"), "503": error("Layers still loading")}}},
            "/admin/lineage/{code}": {"get": {
                "summary": "Every version of the administrative unit with this GSO code (codes are re-used across 1 July 2025), its predecessors and successors with the legal citations",
                "operationId": "adminLineage",
                "parameters": [
                    {"name": "code", "in": "path", "required": true, "description": "GSO code", "schema": {"type": "string", "pattern": "^[0-9]{1,8}$", "example": "28810"}},
                    query_param("date", "Only the version valid on this day", json!({"type": "string", "format": "date"}), false),
                ],
                "responses": {"200": response("Versions", &[("application/json", json!({"type": "object", "required": ["code", "versions"]}))]),
                    "400": error("Invalid parameter"), "404": error("Unknown unit")}}},
            "/admin/resolve": {"get": {
                "summary": "An old address (commune name, with or without diacritics, Unicode or TCVN3, with or without Xã/Phường/Thị trấn prefixes) to the unit(s) it became",
                "operationId": "adminResolve",
                "parameters": [
                    query_param("name", "Commune name as written in the old address", json!({"type": "string", "minLength": 1, "maxLength": 128, "pattern": "\\S", "example": "Xa Tan Thach"}), true),
                    query_param("district", "Former district (huyện / thành phố)", json!({"type": "string", "maxLength": 128}), false),
                    query_param("date", "The day the address was valid", json!({"type": "string", "format": "date"}), false),
                    query_param("at", "The day to resolve to (default today)", json!({"type": "string", "format": "date"}), false),
                ],
                "responses": {"200": response("Matches", &[("application/json", json!({"type": "object", "required": ["matches", "results"]}))]),
                    "400": error("Invalid parameter"), "404": error("No such commune")}}},
            "/admin/reexpress": {"get": {
                "summary": "A numeric attribute of the units of one day re-expressed in the units of a later day: by lineage where recorded, else by the share of area each new unit covers; totals kept, the uncovered part reported as unplaced",
                "operationId": "adminReexpress",
                "parameters": [
                    query_param("field", "Numeric attribute of the layer's units", json!({"type": "string", "example": "population_2009"}), true),
                    query_param("to", "The day whose units the result is in", json!({"type": "string", "format": "date", "example": "2025-07-01"}), true),
                    query_param("from", "The day whose units carry the values (default: the day before `to`)", json!({"type": "string", "format": "date"}), false),
                    query_param("layer", "The admin layer (default admin_communes)", json!({"type": "string"}), false),
                    query_param("weight_layer", "Share by this layer's land instead of plain area where values are shared by overlap", json!({"type": "string", "example": "land_use"}), false),
                    query_param("weight_class", "Only the weight layer's features of this class (land use: lu_code)", json!({"type": "string", "example": "LUC"}), false),
                ],
                "responses": {"200": response("Re-expressed values", &[("application/json", json!({"type": "object", "required": ["units", "total_in", "unplaced"]}))]),
                    "400": error("Invalid parameter"), "404": error("Unknown layer"), "503": error("Busy")}}},
    });
    paths.as_object().cloned().unwrap_or_default()
}

/// OGC API – Tiles: the grids, each collection's vector and map tilesets and tiles.
fn tiles_paths(ids: &[&str], grids: &[&str]) -> serde_json::Map<String, Json> {
    let collection_id = json!({"name": "collectionId", "in": "path", "required": true,
        "description": "Layer id", "schema": {"type": "string", "enum": ids}});
    let tms_id = json!({"name": "tileMatrixSetId", "in": "path", "required": true,
        "description": "Tile matrix set (grid) id", "schema": {"type": "string", "enum": grids}});
    let tile_params = |format: Json| {
        vec![
            collection_id.clone(),
            tms_id.clone(),
            json!({"name": "tileMatrix", "in": "path", "required": true, "description": "Level id of the grid", "schema": {"type": "string", "pattern": "^[0-9]{1,2}$"}}),
            json!({"name": "tileRow", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0, "maximum": 16777215}}),
            json!({"name": "tileCol", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0, "maximum": 16777215}}),
            query_param("f", "Tile format", format, false),
            query_param(
                "datetime",
                "The day whose administrative units the tile holds (default today)",
                json!({"type": "string", "format": "date", "example": "2025-06-30"}),
                false,
            ),
        ]
    };
    let tile_responses = |media: &[&str]| {
        let content: Vec<(&str, Json)> = media
            .iter()
            .map(|m| (*m, json!({"type": "string", "format": "binary"})))
            .collect();
        json!({
            "200": response("A tile", &content),
            "204": {"description": "No feature in this tile"},
            "304": {"description": "Not modified (If-None-Match)"},
            "400": error("Invalid parameter"),
            "404": error("No such grid, level, tile or collection"),
            "503": error("Busy; retry"),
        })
    };
    let tilesets = |kind: &str, id: &str| {
        json!({"get": {"summary": format!("{kind} tilesets of a collection, one per grid"), "operationId": id,
            "parameters": [collection_id.clone()],
            "responses": {"200": response("Tilesets", &[("application/json", json!({"type": "object", "required": ["tilesets"]}))]),
                "404": error("Not found")}}})
    };
    let tileset = |kind: &str, id: &str| {
        json!({"get": {"summary": format!("{kind} tileset metadata with its limits per level"), "operationId": id,
            "parameters": [collection_id.clone(), tms_id.clone()],
            "responses": {"200": response("Tileset", &[("application/json", json!({"type": "object", "required": ["dataType", "crs", "links"]}))]),
                "404": error("Not found")}}})
    };
    let collections = query_param(
        "collections",
        "Comma list of up to 64 collection ids, one tile layer each; empty = every collection the caller may see",
        json!({"type": "string", "pattern": "^([a-z][a-z0-9_]{0,47}(,[a-z][a-z0-9_]{0,47}){0,63})?$"}),
        false,
    );
    let dataset_tile_params = |format: Json| {
        let mut p = tile_params(format);
        p.remove(0);
        p.push(collections.clone());
        p
    };
    let paths = json!({
        "/tiles": {"get": {"summary": "Vector tilesets of the dataset, one per grid", "operationId": "tiles.dataset.vector.getTileSetsList",
            "responses": {"200": response("Tilesets", &[("application/json", json!({"type": "object", "required": ["tilesets"]}))])}}},
        "/tiles/{tileMatrixSetId}": {"get": {"summary": "The dataset's vector tileset in a grid", "operationId": "tiles.dataset.vector.getTileSet",
            "parameters": [tms_id.clone(), collections.clone()],
            "responses": {"200": response("Tileset", &[("application/json", json!({"type": "object", "required": ["dataType", "crs", "links"]}))]),
                "400": error("Invalid parameter"), "404": error("Not found")}}},
        "/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}": {"get": {
            "summary": "A vector tile of the selected collections (one layer each) in the grid's CRS", "operationId": "tiles.dataset.vector.getTile",
            "parameters": dataset_tile_params(json!({"type": "string", "enum": ["mvt", ""]})),
            "responses": tile_responses(&["application/vnd.mapbox-vector-tile"])}},
        "/map/tiles": {"get": {"summary": "Map tilesets of the dataset, one per grid", "operationId": "tiles.dataset.map.getTileSetsList",
            "responses": {"200": response("Tilesets", &[("application/json", json!({"type": "object", "required": ["tilesets"]}))])}}},
        "/map/tiles/{tileMatrixSetId}": {"get": {"summary": "The dataset's map tileset in a grid", "operationId": "tiles.dataset.map.getTileSet",
            "parameters": [tms_id.clone(), collections.clone()],
            "responses": {"200": response("Tileset", &[("application/json", json!({"type": "object", "required": ["dataType", "crs", "links"]}))]),
                "400": error("Invalid parameter"), "404": error("Not found")}}},
        "/map/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}": {"get": {
            "summary": "A map tile of the selected collections, drawn in order with their default styles", "operationId": "tiles.dataset.map.getTile",
            "parameters": dataset_tile_params(json!({"type": "string", "enum": ["png", "jpeg", ""]})),
            "responses": tile_responses(&["image/png", "image/jpeg"])}},
        "/tileMatrixSets": {"get": {"summary": "Tile matrix sets (grids) served", "operationId": "getTileMatrixSetsList",
            "responses": {"200": response("Grids", &[("application/json", json!({"type": "object", "required": ["tileMatrixSets"]}))])}}},
        "/tileMatrixSets/{tileMatrixSetId}": {"get": {"summary": "A grid as OGC TMS 2.0 JSON", "operationId": "getTileMatrixSet",
            "parameters": [tms_id],
            "responses": {"200": response("Grid", &[("application/json", json!({"type": "object", "required": ["id", "crs", "tileMatrices"]}))]),
                "404": error("Not found")}}},
        "/collections/{collectionId}/tiles": tilesets("Vector", "tiles.collection.vector.getTileSetsList"),
        "/collections/{collectionId}/tiles/{tileMatrixSetId}": tileset("Vector", "tiles.collection.vector.getTileSet"),
        "/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}": {"get": {
            "summary": "A vector tile (MVT) in the grid's CRS", "operationId": "tiles.collection.vector.getTile",
            "parameters": tile_params(json!({"type": "string", "enum": ["mvt", ""]})),
            "responses": tile_responses(&["application/vnd.mapbox-vector-tile"])}},
        "/collections/{collectionId}/map/tiles": tilesets("Map", "tiles.collection.map.getTileSetsList"),
        "/collections/{collectionId}/map/tiles/{tileMatrixSetId}": tileset("Map", "tiles.collection.map.getTileSet"),
        "/collections/{collectionId}/map/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}": {"get": {
            "summary": "A map tile (PNG or JPEG) in the grid's CRS, drawn with the layer's default style", "operationId": "tiles.collection.map.getTile",
            "parameters": tile_params(json!({"type": "string", "enum": ["png", "jpeg", ""]})),
            "responses": tile_responses(&["image/png", "image/jpeg"])}},
    });
    paths.as_object().cloned().unwrap_or_default()
}

/// The component schemas the paths refer to.
fn schemas() -> Json {
    json!({
                "exception": {"type": "object", "required": ["code", "description"],
                    "properties": {"code": {"type": "string"}, "description": {"type": "string"}}},
                "link": {"type": "object", "required": ["href"],
                    "properties": {"href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"}, "title": {"type": "string"}}},
                "landingPage": {"type": "object", "required": ["links"],
                    "properties": {"title": {"type": "string"}, "description": {"type": "string"},
                        "links": {"type": "array", "items": schema_ref("link")}}},
                "confClasses": {"type": "object", "required": ["conformsTo"],
                    "properties": {"conformsTo": {"type": "array", "items": {"type": "string"}}}},
                "collection": {"type": "object", "required": ["id", "links"],
                    "properties": {"id": {"type": "string"}, "title": {"type": "string"}, "description": {"type": "string"},
                        "links": {"type": "array", "items": schema_ref("link")},
                        "crs": {"type": "array", "items": {"type": "string"}}, "storageCrs": {"type": "string"},
                        "itemType": {"type": "string"}, "extent": {"type": "object"}}},
                "collections": {"type": "object", "required": ["links", "collections"],
                    "properties": {"links": {"type": "array", "items": schema_ref("link")},
                        "collections": {"type": "array", "items": schema_ref("collection")}}},
                "geometryGeoJSON": {"type": "object", "nullable": true, "required": ["type"],
                    "properties": {"type": {"type": "string", "enum": ["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"]}}},
                "featureGeoJSON": {"type": "object", "required": ["type", "geometry", "properties"],
                    "properties": {"type": {"type": "string", "enum": ["Feature"]},
                        "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                        "geometry": schema_ref("geometryGeoJSON"),
                        "properties": {"type": "object", "nullable": true},
                        "links": {"type": "array", "items": schema_ref("link")}}},
                "featureCollectionGeoJSON": {"type": "object", "required": ["type", "features"],
                    "properties": {"type": {"type": "string", "enum": ["FeatureCollection"]},
                        "features": {"type": "array", "items": schema_ref("featureGeoJSON")},
                        "links": {"type": "array", "items": schema_ref("link")},
                        "timeStamp": {"type": "string", "format": "date-time"},
                        "numberMatched": {"type": "integer", "minimum": 0},
                        "numberReturned": {"type": "integer", "minimum": 0}}},
                "pointResult": {"type": "object", "required": ["lon", "lat", "count", "features"],
                    "properties": {"lon": {"type": "number"}, "lat": {"type": "number"}, "radius_m": {"type": "number"},
                        "count": {"type": "integer"},
                        "features": {"type": "array", "items": {"type": "object", "required": ["layer", "id", "properties"],
                            "properties": {"layer": {"type": "string"}, "id": {"type": "integer"}, "distance_m": {"type": "number"},
                                "title_vi": {"type": "string"}, "title_en": {"type": "string"}, "properties": {"type": "object"}}}}}},
                "summary": {"type": "object", "required": ["area_ha", "layers"],
                    "properties": {"area_ha": {"type": "number"}, "admin": {"type": "string", "nullable": true},
                        "layers": {"type": "array", "items": {"type": "object", "required": ["layer", "measure", "total", "classes"],
                            "properties": {"layer": {"type": "string"}, "title_vi": {"type": "string"}, "title_en": {"type": "string"},
                                "measure": {"type": "string", "enum": ["area_ha", "length_km"]},
                                "class_field": {"type": "string", "nullable": true}, "total": {"type": "number"},
                                "classes": {"type": "array", "items": {"type": "object"}}}}}}},
                "position": {"type": "array", "minItems": 2, "maxItems": 3,
                    "items": {"type": "number", "minimum": -180, "maximum": 180}},
                "ring": {"type": "array", "minItems": 4, "items": schema_ref("position"),
                    "description": "A closed ring (first position = last), not crossing itself"},
                "polygonGeometry": {"type": "object", "required": ["type", "coordinates"],
                    "properties": {"type": {"type": "string", "enum": ["Polygon"]},
                        "coordinates": {"type": "array", "minItems": 1, "items": schema_ref("ring")}}},
                "multiPolygonGeometry": {"type": "object", "required": ["type", "coordinates"],
                    "properties": {"type": {"type": "string", "enum": ["MultiPolygon"]},
                        "coordinates": {"type": "array", "minItems": 1,
                            "items": {"type": "array", "minItems": 1, "items": schema_ref("ring")}}}},
                "polygonFeature": {"type": "object", "required": ["type", "geometry"],
                    "properties": {"type": {"type": "string", "enum": ["Feature"]},
                        "geometry": {"oneOf": [schema_ref("polygonGeometry"), schema_ref("multiPolygonGeometry")]}}},
                "polygon": {
                    "description": "A GeoJSON Polygon or MultiPolygon in WGS 84 lon/lat (or a Feature with one): valid (closed rings that do not cross), within ±85° of latitude and at most 5° across",
                    "oneOf": [schema_ref("polygonGeometry"), schema_ref("multiPolygonGeometry"), schema_ref("polygonFeature")]},
    })
}

/// `GET /api`.
pub async fn api(
    State(state): State<Arc<AppState>>,
    Query(_q): Query<HashMap<String, String>>,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let base = state.base_url(&headers);
    let visible = state.visible(&caller);
    let collections: Vec<(String, Vec<(String, &'static str)>)> = visible
        .iter()
        .map(|(id, l)| {
            let fields = l
                .meta()
                .schema
                .fields
                .iter()
                // A field named like a standard parameter cannot be filtered by equality.
                .filter(|f| !crate::features::ITEMS_PARAMETERS.contains(&f.name.as_str()))
                .map(|f| (f.name.clone(), f.kind.json_schema().0))
                .collect();
            (id.clone(), fields)
        })
        .collect();
    let grids: Vec<&str> = state.grids.iter().map(|g| g.id.as_str()).collect();
    let doc = document(&base, &collections, crate::features::MAX_LIMIT, &grids);
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/vnd.oai.openapi+json;version=3.0",
        )],
        doc.to_string(),
    )
        .into_response())
}
