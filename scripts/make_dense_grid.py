#!/usr/bin/python3
"""Writes the dense benchmark layer of issue 18: 200 000 squares of 240 m on a 300 m grid.

    /usr/bin/python3 scripts/make_dense_grid.py OUT.gpkg

500 × 400 cells (150 km × 120 km around Bến Tre, centred on lon 106.40, lat 10.075) in
EPSG:3857, layer `dense_grid`, one integer field `cell`; the same squares as the criterion
scenes in benches/kernels.rs (`dense_grid`). A cell is ~2 px wide at z10 and ~4 px at z11, so a
map server must fill and outline every one of them: generalisation cannot stand in for drawing.
Deterministic; the GeoPackage timestamps are pinned too. Needs Debian's python3-gdal.
"""

import math
import os
import sys

from osgeo import gdal, ogr, osr

gdal.UseExceptions()
ogr.UseExceptions()

PITCH, SIDE = 300.0, 240.0
COLS, ROWS = 500, 400
R = 6378137.0


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.environ["OGR_CURRENT_DATE"] = "2026-01-01T00:00:00Z"
    cx = math.radians(106.40) * R
    cy = math.log(math.tan(math.pi / 4 + math.radians(10.075) / 2)) * R
    x0, y0 = cx - COLS / 2 * PITCH, cy - ROWS / 2 * PITCH
    if os.path.exists(out):
        os.remove(out)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(out)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(3857)
    layer = ds.CreateLayer("dense_grid", srs, ogr.wkbPolygon, ["FID=fid", "SPATIAL_INDEX=YES"])
    layer.CreateField(ogr.FieldDefn("cell", ogr.OFTInteger))
    defn = layer.GetLayerDefn()
    layer.StartTransaction()
    n = 0
    for i in range(COLS):
        for j in range(ROWS):
            mx, my = x0 + i * PITCH, y0 + j * PITCH
            ring = ogr.Geometry(ogr.wkbLinearRing)
            for x, y in ((mx, my), (mx + SIDE, my), (mx + SIDE, my + SIDE), (mx, my + SIDE), (mx, my)):
                ring.AddPoint_2D(x, y)
            poly = ogr.Geometry(ogr.wkbPolygon)
            poly.AddGeometry(ring)
            f = ogr.Feature(defn)
            n += 1
            f.SetFID(n)
            f.SetField("cell", n)
            f.SetGeometry(poly)
            layer.CreateFeature(f)
    layer.CommitTransaction()
    ds = None
    print(f"{out}: {n} squares", file=sys.stderr)


if __name__ == "__main__":
    main()
