#!/usr/bin/python3
"""Writes a large, deterministic land-use GeoPackage for benchmarks and import tests.

    /usr/bin/python3 scripts/make_big_layer.py COUNT OUT.gpkg [--seed N]

COUNT small land-use polygons (quadrilaterals 20-60 m across with 5-9 vertices, about 5 % with a
hole) spread over Bến Tre (lon 106.05-106.75, lat 9.85-10.30), EPSG:4326, layer `land_use_big`,
fields lu_code (TT27/2018 codes), lu_group, code_system, year, area_m2 (planar, local metres),
owner_note (Vietnamese text). Every geometry is valid. The same COUNT and seed give the same
features; the GeoPackage timestamps are pinned too, so reruns give identical files.

Only Debian's python3-gdal is needed (run with /usr/bin/python3). Features are committed in
transactions of 20 000; 200 000 features take a few seconds.
"""

import argparse
import math
import os
import random
import struct
import sys
import time

from osgeo import gdal, ogr, osr

gdal.UseExceptions()
ogr.UseExceptions()

LON0, LON1 = 106.05, 106.75
LAT0, LAT1 = 9.85, 10.30
BATCH = 20_000
LAYER = "land_use_big"

# (code, group, weight): roughly the Bến Tre mix, all valid Circular 27/2018 codes
CODES = [
    ("CLN", "NNP", 45.0), ("NTS", "NNP", 15.0), ("LUC", "NNP", 9.0), ("LUK", "NNP", 1.0),
    ("ONT", "PNN", 8.0), ("HNK", "NNP", 5.0), ("SON", "PNN", 4.0), ("RPH", "NNP", 3.0),
    ("DGT", "PNN", 3.0), ("DTL", "PNN", 2.5), ("ODT", "PNN", 2.4), ("NTD", "PNN", 0.7),
    ("TMD", "PNN", 0.3), ("DGD", "PNN", 0.2), ("TSC", "PNN", 0.1), ("SKC", "PNN", 0.2),
    ("TON", "PNN", 0.1), ("DYT", "PNN", 0.05), ("MNC", "PNN", 0.1), ("BCS", "CSD", 0.1),
]
NOTES = ["", "", "", "đất công ích", "đang chuyển mục đích", "tranh chấp ranh giới",
         "đã cấp giấy chứng nhận", "chưa cấp giấy chứng nhận", "đất vườn liền kề"]

M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON_EQ = 111_320.0


def ring_wkb(pts):
    """WKB ring body: point count then x y pairs; pts is closed (first == last)."""
    return struct.pack("<I", len(pts)) + b"".join(struct.pack("<dd", x, y) for x, y in pts)


def shoelace(pts):
    return 0.5 * sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(pts, pts[1:]))


def make_polygon(rng):
    """One small polygon: (wkb, area_m2). Built in local metres around a centre, then turned
    into degrees."""
    lon = rng.uniform(LON0, LON1)
    lat = rng.uniform(LAT0, LAT1)
    mx = M_PER_DEG_LON_EQ * math.cos(math.radians(lat))
    w = rng.uniform(20.0, 60.0)
    h = w * rng.uniform(0.5, 1.0)
    ang = rng.uniform(0.0, math.pi)
    ca, sa = math.cos(ang), math.sin(ang)
    j = 0.12 * h
    corners = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    corners = [(x + rng.uniform(-j, j), y + rng.uniform(-j, j)) for x, y in corners]
    # 1-5 extra vertices on the edges, nudged outward a little: 5-9 vertices in all
    extra = {}
    for _ in range(rng.randint(1, 5)):
        e = rng.randrange(4)
        extra.setdefault(e, []).append(rng.uniform(0.2, 0.8))
    ring = []
    for e in range(4):
        (x0, y0), (x1, y1) = corners[e], corners[(e + 1) % 4]
        ring.append((x0, y0))
        ex, ey = y1 - y0, -(x1 - x0)  # outward normal (counter-clockwise ring)
        n = math.hypot(ex, ey)
        for t in sorted(extra.get(e, [])):
            off = rng.uniform(0.0, 0.04) * h
            ring.append((x0 + t * (x1 - x0) + off * ex / n, y0 + t * (y1 - y0) + off * ey / n))
    ring.append(ring[0])
    area = shoelace(ring)
    rings = [ring]
    if rng.random() < 0.05:  # a pond or house plot cut out of the parcel
        s = 0.12 * min(w, h)
        hx, hy = rng.uniform(-0.1, 0.1) * w, rng.uniform(-0.1, 0.1) * h
        hole = [(hx - s, hy - s), (hx - s, hy + s), (hx + s, hy + s), (hx + s, hy - s),
                (hx - s, hy - s)]  # clockwise
        area += shoelace(hole)
        rings.append(hole)

    def to_deg(p):
        x, y = p
        return (lon + (x * ca - y * sa) / mx, lat + (x * sa + y * ca) / M_PER_DEG_LAT)

    wkb = struct.pack("<BII", 1, 3, len(rings)) + b"".join(
        ring_wkb([to_deg(p) for p in r]) for r in rings)
    return wkb, area


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("count", type=int, help="number of features")
    ap.add_argument("out", help="output GeoPackage (overwritten)")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    if args.count < 0:
        ap.error("COUNT must be >= 0")
    t0 = time.monotonic()
    rng = random.Random(args.seed)
    codes = [c for c, _g, _w in CODES]
    groups = {c: g for c, g, _w in CODES}
    cum = []
    acc = 0.0
    for _c, _g, wt in CODES:
        acc += wt
        cum.append(acc)

    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(args.out + suffix):
            os.remove(args.out + suffix)
    gdal.SetConfigOption("OGR_CURRENT_DATE", "2020-12-31T00:00:00.000Z")
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(args.out)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    lyr = ds.CreateLayer(LAYER, srs, ogr.wkbPolygon, ["FID=fid", "GEOMETRY_NAME=geom"])
    for name, t in [("lu_code", ogr.OFTString), ("lu_group", ogr.OFTString),
                    ("code_system", ogr.OFTString), ("year", ogr.OFTInteger),
                    ("area_m2", ogr.OFTReal), ("owner_note", ogr.OFTString)]:
        lyr.CreateField(ogr.FieldDefn(name, t))
    defn = lyr.GetLayerDefn()
    i_code, i_group, i_sys, i_year, i_area, i_note = range(6)

    lyr.StartTransaction()
    for n in range(1, args.count + 1):
        wkb, area = make_polygon(rng)
        r = rng.random() * acc
        k = 0
        while cum[k] < r:
            k += 1
        code = codes[k]
        f = ogr.Feature(defn)
        f.SetField(i_code, code)
        f.SetField(i_group, groups[code])
        f.SetField(i_sys, "TT27/2018")
        f.SetField(i_year, 2020)
        f.SetField(i_area, round(area, 2))
        note = f"Thửa {rng.randint(1, 999)}, tờ bản đồ số {rng.randint(1, 80)}"
        extra = NOTES[rng.randrange(len(NOTES))]
        f.SetField(i_note, f"{note}; {extra}" if extra else note)
        f.SetGeometryDirectly(ogr.CreateGeometryFromWkb(wkb))
        lyr.CreateFeature(f)
        if n % BATCH == 0:
            lyr.CommitTransaction()
            lyr.StartTransaction()
    lyr.CommitTransaction()
    ds = None
    gdal.SetConfigOption("OGR_CURRENT_DATE", None)
    print(f"wrote {args.count} features to {args.out} in {time.monotonic() - t0:.1f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
