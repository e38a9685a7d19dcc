#!/usr/bin/env python3
"""Decodes one Mapbox Vector Tile with the PyPI package mapbox-vector-tile (an independent decoder)
and prints JSON {"<layer>": {"extent": E, "ids": [feature ids in tile order], "count": n}}; a
feature without an id is null. With --full each layer also has "features": [{"id", "type",
"properties"}] (geometry left out).

    .tools/venv/bin/python tests/web/decode_tile.py FILE.mvt [--full]

A gzip-compressed tile is inflated first. Needs scripts/install-test-tools.sh (.tools/venv).
"""
import gzip
import json
import sys


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    full = "--full" in sys.argv[1:]
    if len(args) != 1:
        print("usage: decode_tile.py FILE.mvt [--full]", file=sys.stderr)
        return 2
    try:
        import mapbox_vector_tile
    except ImportError:
        print("decode_tile.py: mapbox_vector_tile missing; run scripts/install-test-tools.sh "
              "and use .tools/venv/bin/python", file=sys.stderr)
        return 2
    data = open(args[0], "rb").read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    from mapbox_vector_tile.Mapbox import vector_tile_pb2

    # mapbox_vector_tile reports a missing id as 0; the raw protobuf tells whether one was set.
    raw = vector_tile_pb2.tile()
    raw.ParseFromString(data)
    raw_ids = {
        layer.name: [f.id if f.HasField("id") else None for f in layer.features] for layer in raw.layers
    }
    # No y-flip: the tile's own integer coordinates.
    tile = mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})
    out = {}
    for name, layer in tile.items():
        feats = layer.get("features", [])
        ids = raw_ids.get(name, [f.get("id") for f in feats])
        entry = {"extent": layer.get("extent"), "ids": ids, "count": len(feats)}
        if full:
            entry["features"] = [
                {"id": i, "type": f.get("geometry", {}).get("type"),
                 "properties": f.get("properties", {})}
                for i, f in zip(ids, feats)
            ]
        out[name] = entry
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
