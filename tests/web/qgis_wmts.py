#!/usr/bin/python3
"""QGIS (Debian python3-qgis, headless) loads a WMTS layer from cuulong's capabilities and renders
one frame in the grid's CRS; prints one JSON line and writes the image.

  /usr/bin/python3 tests/web/qgis_wmts.py CAPS_URL LAYER STYLE TMS CRS MINX MINY MAXX MAXY SIZE OUT.png

QT_QPA_PLATFORM=offscreen is set here, so no display is needed.
"""
import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsRasterLayer,
    QgsRectangle,
)
from qgis.PyQt.QtCore import QSize  # noqa: E402

caps, layer, style, tms, crs = sys.argv[1:6]
minx, miny, maxx, maxy = map(float, sys.argv[6:10])
size = int(sys.argv[10])
out = sys.argv[11]

QgsApplication.setPrefixPath("/usr", True)
app = QgsApplication([], False)
app.initQgis()
log = []
QgsApplication.messageLog().messageReceived.connect(lambda msg, tag, level: log.append(f"{tag}: {msg}"))
# The URI QGIS's own "Add WMS/WMTS layer" dialog writes for a WMTS layer.
uri = (
    f"crs={crs}&dpiMode=7&format=image/png&layers={layer}&styles={style}"
    f"&tileMatrixSet={tms}&url={caps}"
)
rl = QgsRasterLayer(uri, layer, "wms")
# (QgsMapLayer.error() crashes PyQGIS 3.22 here; QGIS's message log says why a layer is invalid.)
result = {"valid": rl.isValid(), "crs": rl.crs().authid(), "log": log}
if rl.isValid():
    settings = QgsMapSettings()
    settings.setLayers([rl])
    settings.setDestinationCrs(QgsCoordinateReferenceSystem(crs))
    settings.setOutputSize(QSize(size, size))
    settings.setExtent(QgsRectangle(minx, miny, maxx, maxy))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    img = job.renderedImage()
    result["saved"] = img.save(out, "PNG")
    result["errors"] = [e.message for e in job.errors()]
    result["extent"] = settings.visibleExtent().toString()
print(json.dumps(result))
app.exitQgis()
