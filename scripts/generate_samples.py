#!/usr/bin/python3
"""(Re)creates cuulong's sample data in data-samples/.

Run with Debian's /usr/bin/python3 (it has GDAL's `osgeo`); no other package is needed:

    /usr/bin/python3 scripts/generate_samples.py [--source /work/shared/data] [--out data-samples]

What it does, in order:

1. Copies the real files from --source (when that folder exists; otherwise the copies already in
   data-samples/ are used): admin GeoJSON, WDBII rivers, national roads; derives
   hydrology/water_areas_bentre.geojson (the water classes of the GSHHG polygons, with `kind`) and
   writes hydrology/salinity_stations.csv from the facts in data-samples/PROVENANCE.md.
2. Writes the TCVN3 (TCVN 5712:1993) byte table as Rust source (data-samples/tcvn3_table.rs.txt)
   from glibc's charmap, and the districts as a VN-2000 / TM-3 105-45 (EPSG:9210) shapefile whose
   DBF text is TCVN3-encoded (.cpg "TCVN3"), the way agencies still hand such files over.
3. Generates the synthetic layers, clipped to the real province polygon:
   land-use/land_use_synthetic_tm3.shp (EPSG:9210), soil/soil_synthetic.tab (EPSG:4326) and
   transport/provincial_roads_synthetic.gpkg (EPSG:4326).
4. Writes the mapping files (*.mapping.toml) beside the data.

Everything is deterministic: fixed seeds, no wall clock (DBF header dates and the GeoPackage
timestamps are pinned), so a rerun gives byte-identical files.

Reprojection to TM-3 always uses EPSG:6960 (VN-2000 to WGS 84 (2)), pinned as an explicit PROJ
pipeline: left to itself PROJ picks EPSG:5194 for Bến Tre, 0.8 m away.
"""

import argparse
import gzip
import json
import math
import os
import random
import re
import shutil
import struct
import sys
import unicodedata

from osgeo import gdal, ogr, osr

gdal.UseExceptions()
ogr.UseExceptions()
osr.UseExceptions()

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SOURCE = "/work/shared/data"
DEFAULT_OUT = os.path.join(REPO, "data-samples")
CHARMAP = "/usr/share/i18n/charmaps/TCVN5712-1.gz"

# EPSG:6960 (VN-2000 to WGS 84 (2), coordinate frame) used in the WGS 84 -> VN-2000 direction,
# then the TM-3 105-45 projection (EPSG:9210). Input: lon, lat in degrees.
PIPELINE_6960_TM3 = (
    "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
    "+step +proj=cart +ellps=WGS84 "
    "+step +inv +proj=helmert +x=-191.90441429 +y=-39.30318279 +z=-111.45032835 "
    "+rx=-0.00928836 +ry=0.01975479 +rz=-0.00427372 +s=0.252906278 "
    "+convention=coordinate_frame "
    "+step +inv +proj=cart +ellps=WGS84 "
    "+step +proj=tmerc +lat_0=0 +lon_0=105.75 +k=0.9999 +x_0=500000 +y_0=0 +ellps=WGS84"
)
# GDAL (ogr2ogr -ct, OGRCoordinateTransformation with an explicit operation) feeds the pipeline
# in the source CRS's axis order, which is lat, lon for EPSG:4326: swap first.
PIPELINE_GDAL = PIPELINE_6960_TM3.replace(
    "+proj=pipeline ", "+proj=pipeline +step +proj=axisswap +order=2,1 ", 1
)

DBF_DATE = (2020, 12, 31)  # fixed DBF "last update" date, for reproducible files
GPKG_DATE = "2020-12-31T00:00:00.000Z"

VALID_FROM = "2009-04-01"
VALID_TO = "2025-06-30"

BEN_TRE_CITY = (106.375, 10.235)  # Natural Earth "Truc Giang"

# Sea coast of Bến Tre: the province outline between the Cửa Đại mouth (Bình Đại) and the Cổ Chiên
# mouth (Thạnh Phú). Selected from the province ring as the vertices east of 106.60 E and south of
# 10.195 N (ring order).
COAST_WINDOW = (106.60, 10.195)
COASTAL_DISTRICTS = ("835", "836", "837")  # Bình Đại, Ba Tri, Thạnh Phú

SEED_LAND_USE = 20201231
SEED_SOIL = 19930101
SEED_ROADS = 20240627


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


def log(msg):
    print(msg, file=sys.stderr)


def srs(epsg):
    s = osr.SpatialReference()
    s.ImportFromEPSG(epsg)
    s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return s


SRS_4326 = srs(4326)
SRS_9210 = srs(9210)


def _ct(inverse):
    opts = osr.CoordinateTransformationOptions()
    opts.SetOperation(PIPELINE_GDAL, inverse)
    if inverse:
        return osr.CoordinateTransformation(SRS_9210, SRS_4326, opts)
    return osr.CoordinateTransformation(SRS_4326, SRS_9210, opts)


CT_TO_TM3 = _ct(False)
CT_TO_LL = _ct(True)


def to_tm3(geom):
    g = geom.Clone()
    g.Transform(CT_TO_TM3)
    return g


def to_ll(geom):
    g = geom.Clone()
    g.Transform(CT_TO_LL)
    return g


def read_features(path):
    """[(properties dict, geometry clone)] in file order (geometries are clones, so they outlive
    the dataset)."""
    ds = ogr.Open(path)
    lyr = ds.GetLayer(0)
    defn = lyr.GetLayerDefn()
    names = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
    out = []
    for f in lyr:
        props = {n: f.GetField(n) for n in names}
        g = f.GetGeometryRef()
        out.append((props, g.Clone() if g is not None else None))
    ds = None
    return out


def polygons_of(geom, min_area=0.0):
    """The polygon parts of any geometry (drops points / lines of a GeometryCollection and parts
    smaller than min_area)."""
    out = []
    if geom is None or geom.IsEmpty():
        return out
    t = ogr.GT_Flatten(geom.GetGeometryType())
    if t == ogr.wkbPolygon:
        if geom.GetArea() >= min_area:
            out.append(geom.Clone())
    elif t in (ogr.wkbMultiPolygon, ogr.wkbGeometryCollection):
        for i in range(geom.GetGeometryCount()):
            out.extend(polygons_of(geom.GetGeometryRef(i), min_area))
    return out


def lines_of(geom, min_length=0.0):
    out = []
    if geom is None or geom.IsEmpty():
        return out
    t = ogr.GT_Flatten(geom.GetGeometryType())
    if t == ogr.wkbLineString:
        if geom.Length() >= min_length:
            out.append(geom.Clone())
    elif t in (ogr.wkbMultiLineString, ogr.wkbGeometryCollection):
        for i in range(geom.GetGeometryCount()):
            out.extend(lines_of(geom.GetGeometryRef(i), min_length))
    return out


def multipolygon(parts):
    mp = ogr.Geometry(ogr.wkbMultiPolygon)
    for p in parts:
        mp.AddGeometry(p)
    return mp


def ring_polygon(coords):
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for x, y in coords:
        ring.AddPoint_2D(x, y)
    if coords[0] != coords[-1]:
        ring.AddPoint_2D(*coords[0])
    poly = ogr.Geometry(ogr.wkbPolygon)
    poly.AddGeometry(ring)
    return poly


def linestring(coords):
    ls = ogr.Geometry(ogr.wkbLineString)
    for x, y in coords:
        ls.AddPoint_2D(x, y)
    return ls


def point(x, y):
    p = ogr.Geometry(ogr.wkbPoint)
    p.AddPoint_2D(x, y)
    return p


def round_coords(geom, ndigits):
    """Rounds every vertex in place (for tidy, reproducible lon/lat output)."""
    t = ogr.GT_Flatten(geom.GetGeometryType())
    if t in (ogr.wkbLineString, ogr.wkbLinearRing):
        for i in range(geom.GetPointCount()):
            geom.SetPoint_2D(i, round(geom.GetX(i), ndigits), round(geom.GetY(i), ndigits))
    else:
        for i in range(geom.GetGeometryCount()):
            round_coords(geom.GetGeometryRef(i), ndigits)
    return geom


class ValueNoise:
    """Smooth 2-D noise in [0, 1): random values on a lattice, bilinearly interpolated."""

    def __init__(self, rng, x0, y0, x1, y1, spacing):
        self.x0, self.y0, self.s = x0, y0, spacing
        self.nx = int((x1 - x0) / spacing) + 2
        self.ny = int((y1 - y0) / spacing) + 2
        self.v = [[rng.random() for _ in range(self.ny)] for _ in range(self.nx)]

    def __call__(self, x, y):
        fx = min(max((x - self.x0) / self.s, 0.0), self.nx - 1.000001)
        fy = min(max((y - self.y0) / self.s, 0.0), self.ny - 1.000001)
        i, j = int(fx), int(fy)
        tx, ty = fx - i, fy - j
        tx, ty = tx * tx * (3 - 2 * tx), ty * ty * (3 - 2 * ty)
        v = self.v
        a = v[i][j] * (1 - tx) + v[i + 1][j] * tx
        b = v[i][j + 1] * (1 - tx) + v[i + 1][j + 1] * tx
        return a * (1 - ty) + b * ty


def remove_dataset(path):
    base, _ = os.path.splitext(path)
    for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".tab", ".map", ".dat", ".id",
                ".ind", ".gpkg", ".gpkg-wal", ".gpkg-shm", ".gpkg-journal"):
        if os.path.exists(base + ext):
            os.remove(base + ext)


def write_text(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


# --------------------------------------------------------------------------------------------
# 1. real data
# --------------------------------------------------------------------------------------------

COPIES = [
    "admin/bentre_province_2009.geojson",
    "admin/bentre_districts_2009.geojson",  # UTF-8 original of the TCVN3 shapefile
    "admin/bentre_communes_2009.geojson",
    "hydrology/wdbii_rivers_canals_bentre.geojson",
    "transport/national_roads_bentre_area.geojson",
]

# Salinity stations: the project brief's positions for the seven it lists, PROVENANCE.md for Giồng Trôm and
# Khánh Thạnh Tân; yearly maximum salinity 2016 (‰) from "Bảng 1" of the 2020 irrigation-GIS
# report summary quoted in PROVENANCE.md. Giao Hòa has no position and is left out.
STATIONS = [
    # lon, lat, name, river, max ‰ 2016 (None = unknown)
    (106.706, 10.204, "Bình Đại", "Cửa Đại", 27.2),
    (106.600, 10.243, "Lộc Thuận", "Cửa Đại", 17.5),
    (106.605, 9.976, "An Thuận", "Hàm Luông", 31.5),
    (106.464, 10.054, "Sơn Đốc", "Hàm Luông", 27.4),
    (106.349, 10.222, "Mỹ Hóa", "Hàm Luông", 12.4),
    (106.529, 9.881, "Bến Trại", "Cổ Chiên", 29.3),
    (106.389, 9.981, "Hương Mỹ", "Cổ Chiên", 16.6),
    (106.400, 10.139, "Giồng Trôm", "Hàm Luông", None),
    (106.265, 10.092, "Khánh Thạnh Tân", "Cổ Chiên", None),
]


def copy_real(source, out):
    for rel in COPIES:
        dst = os.path.join(out, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(os.path.join(source, rel), dst)
        log(f"copied {rel}")

    # water areas: the water classes of the GSHHG land/water polygons, with a family `kind`.
    with open(os.path.join(source, "hydrology/gshhg_land_water_polygons_bentre.geojson"),
              encoding="utf-8") as f:
        fc = json.load(f)
    kinds = {"ocean_or_estuary": "sea", "river": "river"}
    feats = []
    for feat in fc["features"]:
        cls = feat["properties"]["class"]
        if cls in kinds:
            feat["properties"]["kind"] = kinds[cls]
            feats.append(feat)
    fc["features"] = feats
    fc["name"] = "water_areas_bentre"
    write_text(os.path.join(out, "hydrology/water_areas_bentre.geojson"),
               json.dumps(fc, ensure_ascii=False) + "\n")
    log(f"wrote hydrology/water_areas_bentre.geojson ({len(feats)} features)")


def write_stations(out):
    lines = ["lon,lat,station_code,name,river,max_salinity_2016_ppt"]
    for i, (lon, lat, name, river, smax) in enumerate(STATIONS, start=1):
        name = unicodedata.normalize("NFC", name)
        river = unicodedata.normalize("NFC", river)
        smax_s = "" if smax is None else f"{smax:.1f}"
        lines.append(f"{lon:.3f},{lat:.3f},BT{i:02d},{name},{river},{smax_s}")
    write_text(os.path.join(out, "hydrology/salinity_stations.csv"), "\n".join(lines) + "\n")
    # GDAL's CSV driver reads the column types from a .csvt sidecar (otherwise all are text).
    write_text(os.path.join(out, "hydrology/salinity_stations.csvt"),
               "CoordX,CoordY,String,String,String,Real\n")
    log(f"wrote hydrology/salinity_stations.csv ({len(STATIONS)} stations)")


# --------------------------------------------------------------------------------------------
# 2. TCVN3
# --------------------------------------------------------------------------------------------


def tcvn_table():
    """byte -> Unicode code point for the single bytes glibc's TCVN5712-1 charmap defines."""
    table = {}
    pat = re.compile(r"^<U([0-9A-Fa-f]{4,6})>\s+/x([0-9a-fA-F]{2})\s")
    with gzip.open(CHARMAP, "rt", encoding="ascii") as f:
        in_map = False
        for line in f:
            if line.startswith("CHARMAP"):
                in_map = True
                continue
            if line.startswith("END CHARMAP"):
                break
            m = pat.match(line) if in_map else None
            if m:  # single-byte entries only (multi-byte ones are /xHH/xHH and do not match)
                table[int(m.group(2), 16)] = int(m.group(1), 16)
    for b in (0x00, 0x09, 0x0A, 0x0D):
        table[b] = b
    return table


def tcvn_codec():
    table = tcvn_table()
    enc = {}
    for b in sorted(table):
        enc.setdefault(chr(table[b]), b)
    dec = [chr(table[b]) if b in table else "\ufffd" for b in range(256)]

    def encode(s):
        s = unicodedata.normalize("NFC", s)
        try:
            return bytes(enc[c] for c in s)
        except KeyError as e:
            raise ValueError(f"{s!r}: {e} has no TCVN3 byte") from None

    def decode(bs):
        return unicodedata.normalize("NFC", "".join(dec[b] for b in bs))

    return encode, decode, dec


def write_tcvn3_rust(out, dec, encode, vectors):
    lines = [
        "// TCVN 5712:1993 (VN1) byte -> Unicode, for decoding TCVN3 (\"ABC\", VN3) DBF text.",
        "// Generated by scripts/generate_samples.py from glibc's charmap",
        "// /usr/share/i18n/charmaps/TCVN5712-1.gz; do not edit by hand.",
        "//",
        "// VN3 is a subset of VN1: bytes 0x20-0x7E are ASCII, 0xA0-0xFF hold the lower-case letters",
        "// and the bare capitals (Ă Â Ê Ô Ơ Ư Đ). VN1 adds the precomposed capitals at 0x80-0x9F,",
        "// at some positions in 0xAF-0xFF and at control positions 0x01-0x17 (included here as",
        "// glibc has them; 0x00, 0x09, 0x0A and 0x0D stay themselves). 0xB0-0xB4 are combining",
        "// tone marks (U+0300 U+0309 U+0303 U+0301 U+0323): NFC-normalise the decoded string.",
        "// Bytes glibc leaves undefined would map to U+FFFD (there are none in this charmap).",
        "pub(crate) const TCVN3_HIGH: [char; 256] = [",
    ]
    for row in range(0, 256, 8):
        cells = ", ".join(f"'\\u{{{ord(dec[b]):04X}}}'" for b in range(row, row + 8))
        lines.append(f"    {cells}, // 0x{row:02X}")
    lines.append("];")
    lines.append("")
    lines.append("// Test vectors: TCVN3 bytes (hex), as stored in the TEN_HUYEN field of")
    lines.append("// admin/bentre_districts_2009_tm3.dbf, -> expected string (NFC):")
    for s in vectors:
        hexs = " ".join(f"{b:02X}" for b in encode(s))
        lines.append(f"//   {hexs} -> \"{s}\"")
    write_text(os.path.join(out, "tcvn3_table.rs.txt"), "\n".join(lines) + "\n")
    log("wrote tcvn3_table.rs.txt")


def write_dbf(path, fields, records, encode, date=DBF_DATE):
    """Writes a dBase III file. fields: [(name, type 'C'|'N', width, decimals)]; records: lists
    of Python values (str for C, int/float/None for N). Text goes through `encode`."""
    nrec = len(records)
    hlen = 32 + 32 * len(fields) + 1
    rlen = 1 + sum(f[2] for f in fields)
    y, m, d = date
    head = struct.pack("<BBBBIHH20x", 0x03, y - 1900, m, d, nrec, hlen, rlen)
    # byte 29 (language driver id) is left 0: the code page comes from the .cpg file
    desc = b""
    for name, ftype, width, dec in fields:
        desc += struct.pack("<11sc4xBB14x", name.encode("ascii"), ftype.encode("ascii"), width, dec)
    body = bytearray()
    for rec in records:
        body += b" "
        for (name, ftype, width, dec), v in zip(fields, rec):
            if ftype == "C":
                raw = encode(v or "")
                if len(raw) > width:
                    raise ValueError(f"{name}: {v!r} is {len(raw)} bytes, wider than {width}")
                body += raw.ljust(width, b" ")
            else:
                s = "" if v is None else (f"{v:.{dec}f}" if dec else str(int(v)))
                if len(s) > width:
                    raise ValueError(f"{name}: {s} wider than {width}")
                body += s.rjust(width).encode("ascii")
    with open(path, "wb") as f:
        f.write(head + desc + b"\x0d" + bytes(body) + b"\x1a")


def write_districts_tcvn3(out, encode, decode):
    src = os.path.join(out, "admin/bentre_districts_2009.geojson")
    dst = os.path.join(out, "admin/bentre_districts_2009_tm3.shp")
    remove_dataset(dst)
    # ogr2ogr with the EPSG:6960 pipeline pinned; attributes are replaced below.
    gdal.VectorTranslate(
        dst, src,
        options=["-f", "ESRI Shapefile", "-s_srs", "EPSG:4326", "-t_srs", "EPSG:9210",
                 "-ct", PIPELINE_GDAL, "-select", "gso_code", "-nlt", "MULTIPOLYGON",
                 "-lco", "ENCODING=", "-lco", "DBF_DATE_LAST_UPDATE=2020-12-31"],
    )
    feats = read_features(src)
    fields = [
        ("MA_TINH", "C", 2, 0),
        ("TEN_TINH", "C", 30, 0),
        ("MA_HUYEN", "C", 3, 0),
        ("TEN_HUYEN", "C", 40, 0),
        ("DIEN_TICH", "N", 12, 2),  # ha
        ("DAN_SO", "N", 9, 0),  # 2009 census
        ("SO_XA", "N", 4, 0),  # communes in 2009
    ]
    records = []
    for props, _ in feats:
        rec = ["83", props["province_vi"], props["gso_code"], props["name_vi"],
               props["area_ha"], props["population_2009"], props["n_communes_2009"]]
        for v in (rec[1], rec[3]):
            assert decode(encode(v)) == unicodedata.normalize("NFC", v), v
        records.append(rec)
    write_dbf(dst[:-4] + ".dbf", fields, records, encode)
    with open(dst[:-4] + ".cpg", "w", encoding="ascii", newline="") as f:
        f.write("TCVN3")
    log(f"wrote admin/bentre_districts_2009_tm3.shp ({len(records)} features, TCVN3 DBF)")
    return [r[3] for r in records]


# --------------------------------------------------------------------------------------------
# geography shared by the generators (all in TM-3 metres)
# --------------------------------------------------------------------------------------------


class Geo:
    def __init__(self, out):
        (_, prov_ll), = read_features(os.path.join(out, "admin/bentre_province_2009.geojson"))
        self.province_ll = prov_ll
        self.province = to_tm3(prov_ll)
        if not self.province.IsValid():
            self.province = self.province.MakeValid()
        self.districts = []
        for props, g in read_features(os.path.join(out, "admin/bentre_districts_2009.geojson")):
            gt = to_tm3(g)
            ps = gt.PointOnSurface()
            self.districts.append((props["gso_code"], props["name_vi"], gt, (ps.GetX(), ps.GetY())))
        self.communes = []
        for props, g in read_features(os.path.join(out, "admin/bentre_communes_2009.geojson")):
            ps = to_tm3(g).PointOnSurface()
            # "Xã Mỹ Nhơn" -> "Mỹ Nhơn" for road names ("Phường 1" stays)
            short = re.sub(r"^(Xã|Thị trấn) ", "", props["name_vi"])
            self.communes.append((short, props["district_gso_code"], (ps.GetX(), ps.GetY())))
        # coast line
        ring = prov_ll.GetGeometryRef(0).GetGeometryRef(0) if \
            ogr.GT_Flatten(prov_ll.GetGeometryType()) == ogr.wkbMultiPolygon else \
            prov_ll.GetGeometryRef(0)
        pts = ring.GetPoints()
        idx = [i for i, p in enumerate(pts[:-1])
               if p[0] >= COAST_WINDOW[0] and p[1] <= COAST_WINDOW[1]]
        assert idx == list(range(idx[0], idx[-1] + 1)), "coast vertices are not contiguous"
        self.coast = to_tm3(linestring([pts[i][:2] for i in idx]))
        # water inside the province (sea, estuaries and the Tiền channel)
        env = self.province.GetEnvelope()
        box = ring_polygon([(env[0], env[2]), (env[1], env[2]), (env[1], env[3]), (env[0], env[3])])
        water = None
        for props, g in read_features(os.path.join(out, "hydrology/water_areas_bentre.geojson")):
            gt = to_tm3(g).Intersection(box)
            water = gt if water is None else water.Union(gt)
        self.water = water.Intersection(self.province)
        # land: the province without the rivers and estuaries the admin polygons include
        # (about 14 % of the province); the synthetic land-use and soil layers cover only this
        self.land = self.province.Difference(self.water)
        if not self.land.IsValid():
            self.land = self.land.MakeValid()
        self.land = multipolygon(polygons_of(self.land, 1.0))
        c = to_tm3(point(*BEN_TRE_CITY))
        self.city = (c.GetX(), c.GetY())

    def district_of(self, p):
        for code, _name, g, _ in self.districts:
            if g.Contains(p):
                return code
        best = min(self.districts, key=lambda d: d[2].Distance(p))
        return best[0]


# --------------------------------------------------------------------------------------------
# 3a. land use
# --------------------------------------------------------------------------------------------

LU_NAMES = {
    "CLN": "Đất trồng cây lâu năm",
    "LUC": "Đất chuyên trồng lúa nước",
    "HNK": "Đất trồng cây hàng năm khác",
    "NTS": "Đất nuôi trồng thủy sản",
    "RPH": "Đất rừng phòng hộ",
    "ONT": "Đất ở tại nông thôn",
    "ODT": "Đất ở tại đô thị",
    "DGT": "Đất giao thông",
    "DTL": "Đất thủy lợi",
    "SON": "Đất sông, ngòi, kênh, rạch, suối",
    "NTD": "Đất nghĩa trang, nghĩa địa",
    # pre-2014 codes (Circular 08/2007), kept as old data carries them
    "LNC": "Đất trồng cây lâu năm khác",
    "LNQ": "Đất trồng cây ăn quả lâu năm",
    "TSL": "Đất nuôi trồng thủy sản nước lợ, mặn",
    "COC": "Đất cỏ dùng vào chăn nuôi",
}
LU_GROUP = {"CLN": "NNP", "LUC": "NNP", "HNK": "NNP", "NTS": "NNP", "RPH": "NNP",
            "ONT": "PNN", "ODT": "PNN", "DGT": "PNN", "DTL": "PNN", "SON": "PNN", "NTD": "PNN",
            "LNC": "NNP", "LNQ": "NNP", "TSL": "NNP", "COC": "NNP"}

# share of the land area (%) the allocation aims at; CLN takes the rest (about 45 %)
LU_SHARES = {"SON": 4.0, "ODT_city": 1.6, "ODT_towns": 0.8, "RPH": 3.0, "NTS": 15.0,
             "LUC": 10.0, "ONT": 8.0, "HNK": 5.0, "DGT": 3.0, "DTL": 2.5, "NTD": 0.7,
             "mixed": 1.0, "old": 1.0}


def jittered_grid(rng, env, cell, jitter):
    x0 = math.floor(env[0] / cell) * cell - cell
    y0 = math.floor(env[2] / cell) * cell - cell
    nx = int(math.ceil((env[1] - x0) / cell)) + 2
    ny = int(math.ceil((env[3] - y0) / cell)) + 2
    nodes = [[(round(x0 + i * cell + rng.uniform(-jitter, jitter), 2),
               round(y0 + j * cell + rng.uniform(-jitter, jitter), 2))
              for j in range(ny)] for i in range(nx)]
    cells = []
    for j in range(ny - 1):
        for i in range(nx - 1):
            corners = [nodes[i][j], nodes[i + 1][j], nodes[i + 1][j + 1], nodes[i][j + 1]]
            cells.append(corners)
    return cells


def clip_cells(cells, clip, min_area):
    out = []
    for corners in cells:
        quad = ring_polygon(corners)
        if not quad.Intersects(clip):
            continue
        if clip.Contains(quad):
            out.append((corners, quad, True))
            continue
        parts = polygons_of(quad.Intersection(clip), min_area)
        if parts:
            out.append((corners, multipolygon(parts) if len(parts) > 1 else parts[0], False))
    return out


def allocate(rng, items, label, quota, candidates, score):
    """Gives `label` to the unlabelled candidates with the lowest score until their area reaches
    `quota` (m²)."""
    pool = sorted((score(it), k) for k, it in enumerate(items)
                  if it["lu"] is None and candidates(it))
    acc = 0.0
    for _, k in pool:
        if acc >= quota:
            break
        items[k]["lu"] = label
        acc += items[k]["area"]
    return acc


def generate_land_use(out, geo):
    rng = random.Random(SEED_LAND_USE)
    env = geo.province.GetEnvelope()
    cells = clip_cells(jittered_grid(rng, env, 500.0, 110.0), geo.land, 100.0)
    noise_rice = ValueNoise(rng, env[0], env[2], env[1], env[3], 6000.0)
    noise_aqua = ValueNoise(rng, env[0], env[2], env[1], env[3], 5000.0)
    noise_hnk = ValueNoise(rng, env[0], env[2], env[1], env[3], 3000.0)
    towns = [d[3] for d in geo.districts]
    settlements = [c[2] for c in geo.communes]
    items = []
    for corners, g, whole in cells:
        p = g.PointOnSurface()
        x, y = p.GetX(), p.GetY()
        items.append({
            "corners": corners, "geom": g, "whole": whole, "area": g.GetArea(),
            "x": x, "y": y,
            "district": geo.district_of(p),
            "d_coast": p.Distance(geo.coast) / 1000.0,
            "d_water": p.Distance(geo.water) / 1000.0,
            "d_city": math.hypot(x - geo.city[0], y - geo.city[1]) / 1000.0,
            "d_town": min(math.hypot(x - tx, y - ty) for tx, ty in towns) / 1000.0,
            "d_settle": min(math.hypot(x - sx, y - sy) for sx, sy in settlements) / 1000.0,
            "r": rng.random(), "r2": rng.random(), "lu": None, "note": None,
        })
    total = sum(it["area"] for it in items)
    q = {k: v / 100.0 * total for k, v in LU_SHARES.items()}
    coastal = lambda it: it["district"] in COASTAL_DISTRICTS  # noqa: E731
    anyc = lambda it: True  # noqa: E731

    # rạch and canals: small water courses, mostly next to the big rivers
    allocate(rng, items, "SON", q["SON"], anyc, lambda it: min(it["d_water"], 3.0) + 4.0 * it["r2"])
    allocate(rng, items, "ODT", q["ODT_city"], anyc, lambda it: it["d_city"] + 0.6 * it["r"])
    allocate(rng, items, "ODT", q["ODT_towns"], lambda it: it["district"] != "829",
             lambda it: it["d_town"] + 0.8 * it["r"])
    allocate(rng, items, "RPH", q["RPH"], lambda it: coastal(it) and it["d_coast"] < 3.0,
             lambda it: it["d_coast"] + 0.7 * it["r"])
    allocate(rng, items, "NTS", q["NTS"], coastal,
             lambda it: it["d_coast"] / 25.0 + 0.9 * noise_aqua(it["x"], it["y"]) + 0.15 * it["r"])
    fresh = {"832": 0.0, "831": 0.1, "834": 0.15, "836": 0.3, "838": 0.35, "833": 0.45,
             "829": 0.8, "835": 0.6, "837": 0.7}
    allocate(rng, items, "LUC", q["LUC"], anyc,
             lambda it: fresh[it["district"]] + noise_rice(it["x"], it["y"]) + 0.1 * it["r"])
    allocate(rng, items, "ONT", q["ONT"], anyc, lambda it: it["d_settle"] + 1.2 * it["r"])
    allocate(rng, items, "HNK", q["HNK"], anyc,
             lambda it: noise_hnk(it["x"], it["y"]) + 0.3 * it["r"])
    allocate(rng, items, "DGT", q["DGT"], anyc, lambda it: it["r"])
    allocate(rng, items, "DTL", q["DTL"], anyc, lambda it: it["r2"])
    allocate(rng, items, "NTD", q["NTD"], anyc, lambda it: (it["r"] * 7.3) % 1.0)
    # mixed codes: residential with orchard (most), rice-shrimp rotation near the coast
    allocate(rng, items, "MIXED", q["mixed"], anyc, lambda it: (it["r2"] * 5.7) % 1.0)
    # pre-2014 codes, ~1 %: exercise the importer's crosswalk report
    allocate(rng, items, "OLD", q["old"], anyc, lambda it: (it["r"] * 11.1) % 1.0)
    for it in items:
        if it["lu"] is None:
            it["lu"] = "CLN"
        elif it["lu"] == "MIXED":
            it["lu"] = "LUC+NTS" if coastal(it) and it["r"] < 0.5 else "ONT+CLN"
        elif it["lu"] == "OLD":
            if coastal(it) and it["d_coast"] < 15:
                it["lu"] = "TSL"
            else:
                it["lu"] = ("LNC", "LNQ", "LNQ", "COC")[int(it["r2"] * 4)]

    # defects for the validation tests, each replacing one whole (unclipped) orchard cell
    def pick(lon, lat):
        p = to_tm3(point(lon, lat))
        cands = [it for it in items if it["whole"] and it["lu"] == "CLN"]
        return min(cands, key=lambda it: math.hypot(it["x"] - p.GetX(), it["y"] - p.GetY()))

    bow = pick(106.45, 10.15)  # Giồng Trôm
    a, b, c, d = bow["corners"]
    d2 = (a[0] + 0.35 * (d[0] - a[0]), a[1] + 0.35 * (d[1] - a[1]))
    # ring a -> c -> b -> d2: edges a-c and b-d2 cross; the lobes differ in size, so the
    # signed (shoelace) area is far from the area of any valid repair.
    bow["geom"] = ring_polygon([a, c, b, d2, a])
    bow["note"] = "defect:bowtie"
    spike = pick(106.36, 10.07)  # Mỏ Cày Nam
    a, b, c, d = spike["corners"]
    cx, cy = (a[0] + c[0]) / 2, (a[1] + c[1]) / 2
    ux, uy = b[0] - cx, b[1] - cy
    n = math.hypot(ux, uy)
    s = (round(b[0] + 40.0 * ux / n, 2), round(b[1] + 40.0 * uy / n, 2))
    # a 40 m spike out of corner b (b -> s -> b) and a repeated vertex (b, b): zero-area defects
    spike["geom"] = ring_polygon([a, b, s, b, b, c, d, a])
    spike["note"] = "defect:spike"
    for it in (bow, spike):
        it["area"] = it["geom"].GetArea()

    path = os.path.join(out, "land-use/land_use_synthetic_tm3.shp")
    remove_dataset(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    drv = ogr.GetDriverByName("ESRI Shapefile")
    ds = drv.CreateDataSource(path)
    lyr = ds.CreateLayer("land_use_synthetic_tm3", SRS_9210, ogr.wkbPolygon,
                         ["ENCODING=UTF-8", "DBF_DATE_LAST_UPDATE=2020-12-31"])
    name_width = max(len(v.encode("utf-8")) for v in LU_NAMES.values())
    for name, t, w, p in [("lu_code", ogr.OFTString, 10, 0), ("lu_group", ogr.OFTString, 3, 0),
                          ("code_sys", ogr.OFTString, 9, 0), ("year", ogr.OFTInteger, 4, 0),
                          ("area_m2", ogr.OFTReal, 12, 1), ("ten_loai", ogr.OFTString,
                                                             name_width, 0),
                          ("note", ogr.OFTString, 16, 0)]:
        fd = ogr.FieldDefn(name, t)
        fd.SetWidth(w)
        fd.SetPrecision(p)
        lyr.CreateField(fd)
    lyr.StartTransaction()
    for it in items:
        first = it["lu"].split("+")[0]
        f = ogr.Feature(lyr.GetLayerDefn())
        f["lu_code"] = it["lu"]
        f["lu_group"] = LU_GROUP[first]
        f["code_sys"] = "TT27/2018"
        f["year"] = 2020
        f["area_m2"] = round(it["area"], 1)
        f["ten_loai"] = LU_NAMES[first]
        if it["note"]:
            f["note"] = it["note"]
        f.SetGeometry(it["geom"])
        lyr.CreateFeature(f)
    lyr.CommitTransaction()
    ds = None

    shares = {}
    for it in items:
        shares[it["lu"]] = shares.get(it["lu"], 0.0) + it["area"]
    log(f"wrote land-use/land_use_synthetic_tm3.shp ({len(items)} features); shares %: " +
        ", ".join(f"{k} {100 * v / total:.1f}" for k, v in sorted(shares.items(),
                                                                   key=lambda kv: -kv[1])))
    coastal_nts = sum(it["area"] for it in items if it["lu"] == "NTS" and coastal(it))
    log(f"  NTS in coastal districts: {100 * coastal_nts / max(shares.get('NTS', 1), 1):.0f} %")
    return items


# --------------------------------------------------------------------------------------------
# 3b. soil
# --------------------------------------------------------------------------------------------

SOIL_WRB = {
    "Mm": "Salic Fluvisols (Tidalic)",
    "Mn": "Gleyic Solonchaks",
    "M": "Salic Fluvisols",
    "Sp1": "Protothionic Fluvisols",
    "Sp2": "Protothionic Gleysols",
    "Sj1": "Orthothionic Fluvisols",
    "Sj2": "Orthothionic Gleysols",
    "Sp1M": "Protothionic Fluvisols (Salic)",
    "P": "Eutric Fluvisols",
    "Pb": "Haplic Fluvisols",
    "Pg": "Gleyic Fluvisols",
    "C": "Haplic Arenosols",
}
SOIL_GROUP = {"M": "mặn", "S": "phèn", "P": "phù sa", "C": "cát"}
SOIL_TEXTURE = {
    "Mm": ("sét", "sét"),
    "Mn": ("sét", "thịt nặng"),
    "M": ("thịt nặng", "sét"),
    "Sp1": ("sét", "sét"),
    "Sp2": ("sét", "thịt nặng"),
    "Sj1": ("sét", "thịt nặng"),
    "Sj2": ("thịt nặng", "sét"),
    "Sp1M": ("sét", "sét"),
    "P": ("thịt trung bình", "thịt nặng"),
    "Pb": ("thịt trung bình", "thịt nhẹ"),
    "Pg": ("thịt nặng", "sét"),
    "C": ("cát pha", "cát"),
}
# salinity classes, from the sea inland
SAL = ("mặn nhiều", "mặn trung bình", "mặn ít", "không mặn")


# sandy ridges (giồng): crest distance from the coast (km) and relative width
RIDGES = [(3.0, 1.0), (8.5, 0.9), (14.5, 0.8), (21.0, 0.6)]
RIDGE_SHARE = 0.06


def ridge_pieces(geo, cells, keep, zone, base_km):
    """Strips parallel to the coast (offset bands of the coast line, so arcs at the mouths),
    cut by the soil cells; a cell keeps its strip piece only when keep[k] (gaps in the
    ridges). Returns {cell index: piece}."""
    bands = None
    for crest, rel in RIDGES:
        half = rel * base_km / 2.0
        b = geo.coast.Buffer((crest + half) * 1000.0, 8).Difference(
            geo.coast.Buffer((crest - half) * 1000.0, 8))
        bands = b if bands is None else bands.Union(b)
    bands = bands.Intersection(zone)
    out = {}
    for k, (_corners, g, _whole) in enumerate(cells):
        if keep[k] and g.Intersects(bands):
            parts = polygons_of(g.Intersection(bands), 2000.0)
            if parts:
                out[k] = multipolygon(parts)
    return out


def generate_soil(out, geo):
    rng = random.Random(SEED_SOIL)
    env = geo.province.GetEnvelope()
    cells = clip_cells(jittered_grid(rng, env, 2000.0, 420.0), geo.land, 5000.0)
    noise = ValueNoise(rng, env[0], env[2], env[1], env[3], 9000.0)
    keep = [rng.random() < 0.7 for _ in cells]
    total = sum(g.GetArea() for _c, g, _w in cells)

    # sandy ridges in the coastal districts and Giồng Trôm ("giồng" = ridge): find the strip
    # width that gives RIDGE_SHARE of the land by bisection
    zone = None
    for code, _n, g, _xy in geo.districts:
        if code in COASTAL_DISTRICTS + ("834",):
            zone = g if zone is None else zone.Union(g)
    zone = zone.Intersection(geo.land)
    lo, hi = 0.1, 4.0
    for _ in range(18):
        mid = (lo + hi) / 2.0
        area = sum(p.GetArea() for p in ridge_pieces(geo, cells, keep, zone, mid).values())
        lo, hi = (mid, hi) if area < RIDGE_SHARE * total else (lo, mid)
    pieces = ridge_pieces(geo, cells, keep, zone, round(hi, 3))

    geoms = []  # (geometry, is_ridge)
    for k, (_corners, g, _whole) in enumerate(cells):
        if k in pieces:
            for part in polygons_of(g.Difference(pieces[k]), 500.0):
                geoms.append((part, False))
            geoms.append((pieces[k], True))
        else:
            geoms.append((g, False))
    items = []
    for g, is_ridge in geoms:
        p = g.PointOnSurface()
        x, y = p.GetX(), p.GetY()
        d_coast = p.Distance(geo.coast) / 1000.0
        d_water = p.Distance(geo.water) / 1000.0
        # salinity score (km-like): distance to the sea, less near the saline estuaries, with
        # smooth noise so zones are patchy rather than straight bands
        score = d_coast + 1.5 * min(d_water, 6.0) + 8.0 * (noise(x, y) - 0.5)
        items.append({"geom": g, "area": g.GetArea(), "x": x, "y": y,
                      "district": geo.district_of(p), "d_coast": d_coast, "d_water": d_water,
                      "score": score, "r": rng.random(), "code": "C" if is_ridge else None})
    rest = sorted((it["score"], k) for k, it in enumerate(items) if it["code"] is None)
    # the rest by salinity score: 43 % saline, 23 % acid sulphate, the remainder alluvial
    bounds = [("M", 0.43), ("S", 0.43 + 0.23), ("P", 1.01)]
    acc = 0.0
    groups = {"M": [], "S": [], "P": []}
    for _, k in rest:
        frac = acc / total
        grp = next(g for g, upper in bounds if frac < upper)
        groups[grp].append(k)
        acc += items[k]["area"]
    m = groups["M"]  # already sorted by score (most saline first)
    for rank, k in enumerate(m):
        f = rank / len(m)
        items[k]["code"] = "Mm" if f < 0.18 else ("Mn" if f < 0.55 else "M")
    s = groups["S"]
    for rank, k in enumerate(s):
        f = rank / len(s)
        r = items[k]["r"]
        if f < 0.06:
            items[k]["code"] = "Sp1M"  # combined label at the saline fringe
        elif f < 0.5:
            items[k]["code"] = "Sp1" if r < 0.55 else "Sp2"
        else:
            items[k]["code"] = "Sj1" if r < 0.45 else "Sj2"
    for k in groups["P"]:
        it = items[k]
        it["code"] = "Pb" if it["d_water"] < 1.0 else ("Pg" if it["r"] < 0.35 else "P")
    for rank, k in enumerate(s):
        items[k]["sal"] = SAL[0] if items[k]["code"] == "Sp1M" else \
            (SAL[2] if rank < len(s) // 2 else SAL[3])
    for rank, k in enumerate(m):
        code = items[k]["code"]
        items[k]["sal"] = SAL[0] if code in ("Mm", "Mn") else \
            (SAL[1] if rank < 0.8 * len(m) else SAL[2])
    for k in groups["P"]:
        items[k]["sal"] = SAL[3]
    for it in items:
        if it["code"] == "C":
            it["sal"] = SAL[2] if it["d_coast"] < 12 else SAL[3]

    path = os.path.join(out, "soil/soil_synthetic.tab")
    remove_dataset(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    drv = ogr.GetDriverByName("MapInfo File")
    ds = drv.CreateDataSource(path)
    # GDAL 3.6 knows no MapInfo charset for UTF-8 (nor WindowsVietnamese): it writes
    # Charset "Neutral" and the text bytes untouched, i.e. UTF-8.
    lyr = ds.CreateLayer("soil_synthetic", SRS_4326, ogr.wkbMultiPolygon,
                         ["BOUNDS=105.5,9.5,107,10.6", "ENCODING="])
    for name, w in [("vn_soil_code", 6), ("soil_group", 12), ("wrb_name", 40),
                    ("salinity_class", 24), ("texture", 24)]:
        fd = ogr.FieldDefn(name, ogr.OFTString)
        fd.SetWidth(w)
        lyr.CreateField(fd)
    fd = ogr.FieldDefn("area_ha", ogr.OFTReal)
    fd.SetWidth(10)
    fd.SetPrecision(2)
    lyr.CreateField(fd)
    shares = {}
    for it in items:
        code = it["code"]
        f = ogr.Feature(lyr.GetLayerDefn())
        f["vn_soil_code"] = code
        f["soil_group"] = SOIL_GROUP[code[0]]
        f["wrb_name"] = SOIL_WRB[code]
        f["salinity_class"] = it["sal"]
        f["texture"] = SOIL_TEXTURE[code][0 if it["r"] < 0.6 else 1]
        f["area_ha"] = round(it["area"] / 1e4, 2)
        g = round_coords(to_ll(it["geom"]), 7)
        f.SetGeometry(g if ogr.GT_Flatten(g.GetGeometryType()) == ogr.wkbMultiPolygon
                      else ogr.ForceToMultiPolygon(g))
        lyr.CreateFeature(f)
        grp = SOIL_GROUP[code[0]]
        shares[grp] = shares.get(grp, 0.0) + it["area"]
    ds = None
    log(f"wrote soil/soil_synthetic.tab ({len(items)} features); shares %: " +
        ", ".join(f"{k} {100 * v / total:.1f}" for k, v in shares.items()))


# --------------------------------------------------------------------------------------------
# 3c. provincial roads
# --------------------------------------------------------------------------------------------

# ĐT routes between district towns (district GSO codes) or fixed lon/lat points
DT_ROUTES = [
    ("ĐT.883", "Đường tỉnh 883", ["829", "835", (106.765, 10.178)], 2),
    ("ĐT.884", "Đường tỉnh 884", ["831", "829", "838"], 2),
    ("ĐT.885", "Đường tỉnh 885", ["829", "834", "836"], 4),
    ("ĐT.887", "Đường tỉnh 887", ["834", "835"], 2),
    ("ĐT.888", "Đường tỉnh 888", ["833", "837"], 2),
    ("ĐT.882", "Đường tỉnh 882", ["832", "838"], 2),
    ("ĐT.886", "Đường tỉnh 886", ["836", (106.685, 10.030)], 2),
]
DISTRICT_SHORT = {"829": "Bến Tre", "831": "Châu Thành", "832": "Chợ Lách", "833": "Mỏ Cày Nam",
                  "834": "Giồng Trôm", "835": "Bình Đại", "836": "Ba Tri", "837": "Thạnh Phú",
                  "838": "Mỏ Cày Bắc"}


def wiggle(rng, a, b, amp_frac, step=400.0):
    """A plausible road between a and b (TM-3 metres): the straight line, bent by two random
    sine waves that vanish at both ends, plus small per-vertex jitter."""
    length = math.hypot(b[0] - a[0], b[1] - a[1])
    n = max(2, int(length / step))
    ux, uy = (b[0] - a[0]) / length, (b[1] - a[1]) / length
    amp = min(amp_frac * length, 1500.0)
    k1, k2 = rng.choice((1, 2)), rng.choice((2, 3, 4))
    p1, p2 = rng.uniform(0, math.tau), rng.uniform(0, math.tau)
    a1, a2 = rng.uniform(-1, 1) * amp, rng.uniform(-0.4, 0.4) * amp
    pts = []
    for i in range(n + 1):
        t = i / n
        env = math.sin(math.pi * t)
        off = env * (a1 * math.sin(k1 * math.pi * t + p1) + a2 * math.sin(k2 * math.pi * t + p2))
        if 0 < i < n:
            off += rng.uniform(-12.0, 12.0)
        pts.append((a[0] + ux * length * t - uy * off, a[1] + uy * length * t + ux * off))
    return pts


def generate_roads(out, geo):
    rng = random.Random(SEED_ROADS)
    town = {code: xy for code, _n, _g, xy in geo.districts}

    def where(w):
        if isinstance(w, tuple):
            p = to_tm3(point(*w))
            return (p.GetX(), p.GetY())
        return town[w]

    roads = []  # (coords, attrs)
    for ref, name, stops, lanes in DT_ROUTES:
        pts = []
        for a, b in zip(stops, stops[1:]):
            seg = wiggle(rng, where(a), where(b), 0.04)
            pts.extend(seg if not pts else seg[1:])
        roads.append((pts, {"road_class": "DT", "ref": ref, "name": name, "lanes": lanes,
                            "surface": "bê tông nhựa"}))
    # ĐH: each district town to 4 of its communes (the two farthest, then two at random);
    # in TP Bến Tre these are urban streets
    for code, _n, _g, txy in geo.districts:
        comms = [c for c in geo.communes if c[1] == code]
        comms.sort(key=lambda c: -math.hypot(c[2][0] - txy[0], c[2][1] - txy[1]))
        chosen = comms[:2] + rng.sample(comms[2:], min(2, len(comms[2:])))
        for k, c in enumerate(chosen, start=1):
            if math.hypot(c[2][0] - txy[0], c[2][1] - txy[1]) < 800:
                continue
            surface = rng.choice(("láng nhựa", "bê tông nhựa"))
            if code == "829":  # the city has urban streets, not district roads
                attrs = {"road_class": "urban", "ref": None, "name": f"Đường số {k}",
                         "lanes": 2, "surface": "bê tông nhựa"}
            else:
                attrs = {"road_class": "DH", "ref": f"ĐH.{k:02d}",
                         "name": f"Đường huyện {k:02d} ({DISTRICT_SHORT[code]})",
                         "lanes": 2, "surface": surface}
            roads.append((wiggle(rng, txy, c[2], 0.06), attrs))
    # ĐX: each commune centre to its nearest neighbour (pairs once)
    seen = set()
    for i, (name, _dc, xy) in enumerate(geo.communes):
        near = sorted((math.hypot(o[2][0] - xy[0], o[2][1] - xy[1]), j)
                      for j, o in enumerate(geo.communes) if j != i)
        for _, j in near[:2]:
            key = (min(i, j), max(i, j))
            if key in seen:
                continue
            seen.add(key)
            roads.append((wiggle(rng, xy, geo.communes[j][2], 0.08),
                          {"road_class": "DX", "ref": None,
                           "name": f"Đường liên xã {name} – {geo.communes[j][0]}",
                           "lanes": 1, "surface": rng.choice(("bê tông xi măng", "láng nhựa"))}))
    # đường thôn (ấp): two short roads out of each commune centre
    for name, _dc, xy in geo.communes:
        for k in (1, 2):
            ang = rng.uniform(0, math.tau)
            ln = rng.uniform(600.0, 1800.0)
            end = (xy[0] + ln * math.cos(ang), xy[1] + ln * math.sin(ang))
            roads.append((wiggle(rng, xy, end, 0.1, step=150.0),
                          {"road_class": "thon", "ref": None,
                           "name": f"Đường ấp {rng.randint(1, 9)} ({name})", "lanes": 1,
                           "surface": rng.choice(("bê tông xi măng", "bê tông xi măng",
                                                  "cấp phối", "đất"))}))

    path = os.path.join(out, "transport/provincial_roads_synthetic.gpkg")
    remove_dataset(path)
    gdal.SetConfigOption("OGR_CURRENT_DATE", GPKG_DATE)
    drv = ogr.GetDriverByName("GPKG")
    ds = drv.CreateDataSource(path)
    lyr = ds.CreateLayer("provincial_roads", SRS_4326, ogr.wkbLineString,
                         ["FID=fid", "GEOMETRY_NAME=geom", "SPATIAL_INDEX=YES"])
    for name, t in [("road_class", ogr.OFTString), ("ref", ogr.OFTString),
                    ("name", ogr.OFTString), ("lanes", ogr.OFTInteger),
                    ("surface", ogr.OFTString), ("bridge", ogr.OFTInteger)]:
        lyr.CreateField(ogr.FieldDefn(name, t))
    lyr.StartTransaction()
    n = 0
    bridges = 0
    for coords, attrs in roads:
        line = linestring(coords)
        for part in lines_of(line.Intersection(geo.province), 30.0):
            pieces = [(p, 0) for p in lines_of(part.Difference(geo.water), 5.0)]
            pieces += [(p, 1) for p in lines_of(part.Intersection(geo.water), 5.0)]
            for piece, bridge in pieces:
                f = ogr.Feature(lyr.GetLayerDefn())
                for k, v in attrs.items():
                    if v is not None:
                        f[k] = v
                f["bridge"] = bridge
                f.SetGeometry(round_coords(to_ll(piece), 7))
                lyr.CreateFeature(f)
                n += 1
                bridges += bridge
    lyr.CommitTransaction()
    ds = None
    gdal.SetConfigOption("OGR_CURRENT_DATE", None)
    log(f"wrote transport/provincial_roads_synthetic.gpkg ({n} features, {bridges} bridges)")


# --------------------------------------------------------------------------------------------
# 4. mapping files
# --------------------------------------------------------------------------------------------


def toml_str(s):
    return json.dumps(s, ensure_ascii=False)


def write_mappings(out):
    admin_dates = f'valid_from = "{VALID_FROM}"\nvalid_to = "{VALID_TO}"\n'
    write_text(os.path.join(out, "admin/bentre_province_2009.mapping.toml"),
               "# censusVN2009 province -> admin family\n"
               "[fields]\ncode = \"gso_code\"\nname = \"name_vi\"\n\n"
               "[constants]\nlevel = \"province\"\n" + admin_dates)
    write_text(os.path.join(out, "admin/bentre_communes_2009.mapping.toml"),
               "# censusVN2009 communes -> admin family (code is null for the 20 units merged or\n"
               "# renamed after 2009)\n"
               "[fields]\ncode = \"gso_code_2024\"\nname = \"name_vi\"\n"
               "parent_code = \"district_gso_code\"\n\n"
               "[constants]\nlevel = \"commune\"\n" + admin_dates)
    write_text(os.path.join(out, "admin/bentre_districts_2009_tm3.mapping.toml"),
               "# Agency-style district shapefile (TCVN3 DBF, VN-2000 / TM-3) -> admin family\n"
               "[fields]\ncode = \"MA_HUYEN\"\nname = \"TEN_HUYEN\"\nparent_code = \"MA_TINH\"\n\n"
               "[constants]\nlevel = \"district\"\n" + admin_dates)
    write_text(os.path.join(out, "hydrology/wdbii_rivers_canals_bentre.mapping.toml"),
               "# WDBII levels -> hydrology kind\n"
               "[fields]\nkind = \"class\"\n\n"
               "[values.kind]\n\"river_lake_outline\" = \"river\"\n\"minor_river\" = \"river\"\n"
               "\"irrigation_canal\" = \"canal\"\n")
    write_text(os.path.join(out, "hydrology/salinity_stations.mapping.toml"),
               "# salinity stations -> hydrology family\n"
               "[constants]\nkind = \"station\"\nparameters = \"salinity\"\n")
    # national roads: every road name present gets its ref
    with open(os.path.join(out, "transport/national_roads_bentre_area.geojson"),
              encoding="utf-8") as f:
        names = sorted({ft["properties"]["ten"] for ft in json.load(f)["features"]},
                       key=lambda s: (len(s), s))
    refs = "".join(f"{toml_str(n)} = {toml_str('QL.' + n.split()[-1])}\n" for n in names)
    write_text(os.path.join(out, "transport/national_roads_bentre_area.mapping.toml"),
               "# LegoCity national roads -> transport family\n"
               "[fields]\nroad_class = \"cap_duong\"\nref = \"ten\"\nname = \"ten\"\n\n"
               "[values.road_class]\n\"Quốc Gia\" = \"QL\"\n\"Cấp Tỉnh\" = \"DT\"\n\n"
               "[values.ref]\n" + refs)
    write_text(os.path.join(out, "land-use/land_use_synthetic_tm3.mapping.toml"),
               "# shapefile field names are cut to 10 characters\n"
               "[fields]\ncode_system = \"code_sys\"\n")
    log("wrote mapping files")


# --------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", default=DEFAULT_SOURCE,
                    help="folder with the real data (default %(default)s); skipped if missing")
    ap.add_argument("--out", default=DEFAULT_OUT, help="output folder (default data-samples/)")
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    if os.path.isdir(args.source):
        copy_real(args.source, out)
    else:
        log(f"{args.source} not found: using the real data already in {out}")
    write_stations(out)

    encode, decode, dec = tcvn_codec()
    names = write_districts_tcvn3(out, encode, decode)
    vectors = [n for n in names if n in ("Huyện Bình Đại", "Huyện Mỏ Cày Bắc",
                                         "Thành phố Bến Tre")]
    write_tcvn3_rust(out, dec, encode, vectors)

    geo = Geo(out)
    generate_land_use(out, geo)
    generate_soil(out, geo)
    generate_roads(out, geo)
    write_mappings(out)


if __name__ == "__main__":
    main()
