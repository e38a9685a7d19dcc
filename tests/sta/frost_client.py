"""Reads and writes cuulong's SensorThings API with FROST's own Python client
(frost-sta-client, unmodified). Prints what it saw as JSON for tests/observations.rs.
Usage: frost_client.py BASE_URL KEY DATASTREAM_ID"""
import json
import sys

import frost_sta_client as fsc

url, key, ds_id = sys.argv[1], sys.argv[2], int(sys.argv[3])
# The key travels as the HTTP Basic password, the client's only way to authenticate.
service = fsc.SensorThingsService(url, auth_handler=fsc.AuthHandler(username="frost", password=key))
out = {}

things = service.things().query().expand("Locations").list()
names = []
coordinates = []
for thing in things:  # the entity list follows @iot.nextLink
    names.append(thing.name)
    for loc in thing.locations or []:
        geometry = loc.location
        coordinates.append(list(geometry["coordinates"] if isinstance(geometry, dict) else geometry.coordinates))
out["things"] = names
out["coordinates"] = coordinates

ds = service.datastreams().find(ds_id)
out["datastream"] = {"name": ds.name, "unit": ds.unit_of_measurement.symbol}

obs = (
    service.observations()
    .query()
    .filter("Datastream/@iot.id eq {} and result ge 0".format(ds_id))
    .orderby("phenomenonTime", "DESC")
    .top(5)
    .count()
    .list()
)
out["latest"] = [{"id": o.id, "result": o.result, "time": str(o.phenomenon_time)} for o in obs.entities]
out["count"] = obs.count

new = fsc.Observation(result=3.25, phenomenon_time="2026-10-01T07:00:00+07:00", datastream=ds)
service.create(new)
out["created"] = new.id
back = service.observations().find(new.id)
out["read_back"] = {"result": back.result, "time": str(back.phenomenon_time)}
print(json.dumps(out))
