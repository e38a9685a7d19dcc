#!/usr/bin/python3
"""Writes a province-scale synthetic cadastre (thửa đất) for benchmarks: COUNT parcels with ten
attributes, in realistic sizes and shapes, as FlatGeobuf (with its packed Hilbert R-tree) or
GeoPackage.

    /usr/bin/python3 scripts/make_parcels.py COUNT OUT.fgb|OUT.gpkg [--seed N]

How it is built, so sizes and shapes look like a Mekong Delta cadastre rather than confetti:
the extent of Bến Tre (lon 106.05–106.75, lat 9.85–10.30) is cut into 400 m blocks between
roads and canals (6 m wide), taken in a shuffled order, each block into strips running east–west
or north–south (the delta's parcels run back from a canal or a road) and each strip into
parcels. Residential blocks (near a few "towns") have small parcels (6–15 m × 12–30 m); rice
blocks long ones (15–30 m × 60–250 m); orchards and aquaculture in between: about 0.12 ha on
average, so 2 000 000 parcels cover about the province's 236 000 ha. Blocks never overlap. Neighbouring parcels share their edges exactly (one vertex list), as a cadastre
does, and every polygon is valid. About 3 %
of parcels have an extra vertex on a side, pushed 0.6 m inward (a bend in a ditch, leaving a
sliver to the neighbour).

Attributes (Vietnamese cadastre fields, TT 25/2014/TT-BTNMT names in ASCII): so_to (map
sheet), so_thua (parcel number on the sheet), ma_xa (commune GSO code of the 2025 units),
lu_code (TT 08/2024 land-use code), dien_tich (m², planar in local metres), loai_chu (owner
kind), so_gcn (certificate number, empty for about 12 %), ngay_cap (certificate date), dia_chi
(address text, Vietnamese), ghi_chu (note, mostly empty). EPSG:4326. Deterministic for COUNT and
seed. Needs only Debian's python3-gdal (run with /usr/bin/python3); 2 000 000 parcels take a
few minutes and about 1 GB as FlatGeobuf.
"""

import argparse
import math
import os
import random
import sys
import time

from osgeo import gdal, ogr, osr

gdal.UseExceptions()
ogr.UseExceptions()

LON0, LON1 = 106.05, 106.75
LAT0, LAT1 = 9.85, 10.30
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON = 111_320.0 * math.cos(math.radians((LAT0 + LAT1) / 2))
LAYER = "parcels"
BATCH = 50_000

# The 2025 communes of the former Bến Tre (a sample of codes; parcels take the one of their
# block by position, deterministic).
COMMUNES = ["28756", "28789", "28810", "28840", "28858", "28870", "28888", "28903", "28915",
            "28921", "28948", "28969", "28996", "29020", "29062", "29083", "29107", "29131",
            "29155", "29179", "29203", "29227", "29251", "29275", "29299", "29323"]
# Block kinds: (land-use codes with weights, strip width m, parcel depth m, share of blocks)
KINDS = {
    "o": ([("ONT", 80), ("ODT", 15), ("TMD", 5)], (6, 15), (12, 30), 0.12),
    "lua": ([("LUC", 85), ("LUK", 15)], (15, 30), (60, 250), 0.22),
    "cln": ([("CLN", 100)], (10, 22), (25, 90), 0.46),
    "nts": ([("NTS", 100)], (18, 40), (25, 80), 0.14),
    "khac": ([("DGT", 30), ("DTL", 30), ("SON", 20), ("NTD", 10), ("DGD", 10)], (8, 30), (20, 150), 0.06),
}
OWNERS = [("GDC", 86), ("UBS", 5), ("TKT", 4), ("TCN", 3), ("CDS", 2)]  # hộ/cá nhân, UBND xã, tổ chức kinh tế, tổ chức khác, cộng đồng
STREETS = ["Đường Đồng Khởi", "Quốc lộ 60", "Quốc lộ 57", "Đường tỉnh 883", "Đường tỉnh 885",
           "Đường huyện 10", "Hương lộ 26", "Đường Nguyễn Đình Chiểu", "Đường 30 Tháng 4"]
HAMLETS = ["Ấp 1", "Ấp 2", "Ấp 3", "Ấp Phú Hòa", "Ấp Tân Lợi", "Ấp Bình Thạnh", "Ấp An Thới",
           "Ấp Mỹ An", "Ấp Long Hòa"]
NOTES = ["", "", "", "", "", "", "đất vườn liền kề", "đang chuyển mục đích", "tranh chấp ranh giới",
         "đất công ích", "thừa kế chưa đăng ký biến động"]


def weighted(rng, items):
    total = sum(w for _, w in items)
    x = rng.random() * total
    for v, w in items:
        x -= w
        if x <= 0:
            return v
    return items[-1][0]


def to_deg(cx, cy, x, y, cos_a, sin_a):
    """Local metres (rotated by the block's angle around its centre) to lon/lat."""
    rx = x * cos_a - y * sin_a
    ry = x * sin_a + y * cos_a
    return (cx + rx / M_PER_DEG_LON, cy + ry / M_PER_DEG_LAT)


def cuts(rng, length, lo, hi):
    """Positions cutting [0, length] into pieces of lo..hi metres (the last absorbs the rest)."""
    out = [0.0]
    while length - out[-1] > hi:
        out.append(out[-1] + rng.uniform(lo, hi))
    out.append(length)
    return out


def block_parcels(rng, kind, w, h):
    """Parcels of one block w × h (metres, block-local, x along the strips): rings of (x, y)."""
    _, (sw0, sw1), (d0, d1), _ = KINDS[kind]
    strips = cuts(rng, h, sw0, sw1)
    for s0, s1 in zip(strips, strips[1:]):
        depths = cuts(rng, w, d0, d1)
        for x0, x1 in zip(depths, depths[1:]):
            ring = [(x0, s0), (x1, s0), (x1, s1), (x0, s1)]
            if rng.random() < 0.03:
                # A bend in the ditch on the strip's top side: a vertex shared with nobody's
                # corner, pushed inward so the neighbour's straight edge still matches no
                # other vertex (valid, no overlap: inward only).
                mx = (x0 + x1) / 2
                ring = [(x0, s0), (x1, s0), (x1, s1), (mx, s1 - min(0.6, (s1 - s0) / 4)), (x0, s1)]
            yield ring


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("count", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=2030)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    driver = "FlatGeobuf" if a.out.endswith(".fgb") else "GPKG"
    if os.path.exists(a.out):
        os.remove(a.out)
    ds = ogr.GetDriverByName(driver).CreateDataSource(a.out)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    options = ["SPATIAL_INDEX=YES"] if driver == "FlatGeobuf" else []
    layer = ds.CreateLayer(LAYER, srs, ogr.wkbPolygon, options)
    fields = [("so_to", ogr.OFTInteger), ("so_thua", ogr.OFTInteger), ("ma_xa", ogr.OFTString),
              ("lu_code", ogr.OFTString), ("dien_tich", ogr.OFTReal), ("loai_chu", ogr.OFTString),
              ("so_gcn", ogr.OFTString), ("ngay_cap", ogr.OFTDate), ("dia_chi", ogr.OFTString),
              ("ghi_chu", ogr.OFTString)]
    for name, kind in fields:
        layer.CreateField(ogr.FieldDefn(name, kind))
    defn = layer.GetLayerDefn()
    # Blocks on a jittered grid over the extent, visited in a shuffled order until COUNT parcels.
    n, sheet, in_sheet = 0, 1, 0
    t0 = time.time()
    towns = [(rng.uniform(LON0, LON1), rng.uniform(LAT0, LAT1)) for _ in range(6)]
    if driver == "GPKG":
        layer.StartTransaction()
    cell = 400.0
    nx = int((LON1 - LON0) * M_PER_DEG_LON / cell)
    ny = int((LAT1 - LAT0) * M_PER_DEG_LAT / cell)
    cells = [(i, j) for i in range(nx) for j in range(ny)]
    rng.shuffle(cells)
    for i, j in cells:
        if n >= a.count:
            break
        cx = LON0 + (i + 0.5) * cell / M_PER_DEG_LON
        cy = LAT0 + (j + 0.5) * cell / M_PER_DEG_LAT
        near_town = min(math.hypot((cx - tx) * M_PER_DEG_LON, (cy - ty) * M_PER_DEG_LAT) for tx, ty in towns)
        if near_town < 2500 and rng.random() < 0.7:
            kind = "o"
        else:
            kind = weighted(rng, [(k, v[3]) for k, v in KINDS.items() if k != "o"])
        w = h = cell - 6.0
        angle = rng.choice([0.0, math.pi / 2])
        cos_a, sin_a = math.cos(angle), math.sin(angle)
        ix, iy = int((cx - LON0) / (LON1 - LON0) * 5), int((cy - LAT0) / (LAT1 - LAT0) * 5)
        commune = COMMUNES[(ix * 5 + iy) % len(COMMUNES)]
        codes = KINDS[kind][0]
        for ring in block_parcels(rng, kind, w, h):
            if n >= a.count:
                break
            pts = [to_deg(cx, cy, x - w / 2, y - h / 2, cos_a, sin_a) for x, y in ring]
            pts.append(pts[0])
            r = ogr.Geometry(ogr.wkbLinearRing)
            for x, y in pts:
                r.AddPoint_2D(x, y)
            poly = ogr.Geometry(ogr.wkbPolygon)
            poly.AddGeometry(r)
            area = abs(0.5 * sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1])))
            f = ogr.Feature(defn)
            in_sheet += 1
            if in_sheet > 600:
                sheet, in_sheet = sheet + 1, 1
            f.SetField("so_to", sheet)
            f.SetField("so_thua", in_sheet)
            f.SetField("ma_xa", commune)
            f.SetField("lu_code", weighted(rng, codes))
            f.SetField("dien_tich", round(area, 1))
            f.SetField("loai_chu", weighted(rng, OWNERS))
            if rng.random() > 0.12:
                f.SetField("so_gcn", f"{rng.choice('ABCDEC')}{rng.choice('ABCDEFGHK')} {rng.randrange(100000, 999999)}")
                f.SetField("ngay_cap", rng.randrange(1994, 2026), rng.randrange(1, 13), rng.randrange(1, 29), 0, 0, 0, 0)
            f.SetField("dia_chi", f"{rng.choice(HAMLETS)}, {rng.choice(STREETS)}" if kind == "o" else rng.choice(HAMLETS))
            f.SetField("ghi_chu", rng.choice(NOTES))
            f.SetGeometryDirectly(poly)
            layer.CreateFeature(f)
            n += 1
            if driver == "GPKG" and n % BATCH == 0:
                layer.CommitTransaction()
                layer.StartTransaction()
        if n and n % 200_000 < 300:
            print(f"{n} parcels, {time.time() - t0:.0f} s", file=sys.stderr)
    if n < a.count:
        sys.exit(f"the extent holds only {n} parcels of this mix, not {a.count}")
    if driver == "GPKG":
        layer.CommitTransaction()
    ds = None
    print(f"{a.out}: {n} parcels in {time.time() - t0:.0f} s, {os.path.getsize(a.out) / 1e6:.0f} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
