"""Reads and writes cuulong's SensorThings API with stapy (unmodified). stapy keeps its
settings in ./.stapy.ini: run it in a scratch directory. Prints JSON for tests/observations.rs.
Usage: stapy_client.py BASE_URL KEY DATASTREAM_ID"""
import json
import sys

import stapy

url, key, ds_id = sys.argv[1], sys.argv[2], int(sys.argv[3])
stapy.set_sta_url(url)
stapy.set_credentials("stapy", key)
out = {}
# Names and ids of every Thing (stapy pages through @iot.nextLink itself).
names, ids = stapy.Query(stapy.Entity.Thing).select("name", "id").get_data_sets()
out["things"] = names
results, times = (
    stapy.Query(stapy.Entity.Observation)
    .filter("Datastream/id eq {}".format(ds_id))
    .select("result", "phenomenonTime")
    .order("phenomenonTime", asc=False)
    .limit(10)
    .get_data_sets(count=10)
)
out["results"] = results
out["times"] = times
created = stapy.Post.observation("2026-10-02T00:00:00Z", 4.5, datastream_id=ds_id)
out["created"] = created
print(json.dumps(out))
