//! The validation stage: raw features (WKB and source values) become store features —
//! geometry checked, repaired within tolerance and reprojected, family fields mapped and
//! checked against their code lists — or are rejected with a reason.

use cuulong_core::{Feature, Mapping, Value};

use crate::columns::FamilySource;
use crate::pipeline::{Msg, Raw, Tally};
use crate::report::Rejected;
use crate::{crs, geometry, ImportError, ImportOptions};

/// The validation stage: everything it needs to turn raw features into store features.
pub(crate) struct Stage<'a> {
    pub opts: &'a ImportOptions,
    pub mapping: &'a Mapping,
    pub family_sources: &'a [FamilySource],
    pub kept: &'a [usize],
    pub field_names: Vec<String>,
    /// Source CRS as WKT when coordinates need reprojecting.
    pub src_wkt: Option<String>,
}

impl Stage<'_> {
    /// Validates every batch from `rx` and sends the results to the writer. Returns the tally,
    /// or `None` when the writer went away.
    pub fn run(
        &self,
        rx: std::sync::mpsc::Receiver<Vec<Raw>>,
        tx: &tokio::sync::mpsc::Sender<Msg>,
    ) -> Result<Option<Tally>, ImportError> {
        let reprojection = match &self.src_wkt {
            Some(wkt) => Some(crs::reprojection(&mut crs::parse_crs(wkt)?)?),
            None => None,
        };
        let transform = reprojection.as_ref().and_then(|r| r.transform.as_ref());
        let mut tally = Tally::default();
        for raws in rx {
            let mut batch = Vec::with_capacity(raws.len());
            for raw in raws {
                if let Some(f) = self.feature(raw, transform, &mut tally) {
                    batch.push(f);
                }
            }
            if !batch.is_empty() && tx.blocking_send(Msg::Batch(batch)).is_err() {
                return Ok(None);
            }
        }
        Ok(Some(tally))
    }

    fn feature(
        &self,
        raw: Raw,
        transform: Option<&gdal::spatial_ref::CoordTransform>,
        tally: &mut Tally,
    ) -> Option<Feature> {
        let Raw {
            n,
            wkb,
            values: source_values,
        } = raw;
        let want_report = self.opts.report.is_some();
        let reject =
            |reason: String, tally: &mut Tally, geometry: Option<geo_types::Geometry<f64>>| {
                *tally.reasons.entry(reason_key(&reason)).or_default() += 1;
                if want_report || tally.rejected.is_empty() {
                    tally.rejected.push(Rejected {
                        feature: n,
                        reason,
                        geometry,
                        properties: self
                            .field_names
                            .iter()
                            .zip(&source_values)
                            .map(|(f, v)| (f.clone(), v.to_json()))
                            .collect(),
                    });
                }
            };
        let Some(wkb) = wkb else {
            reject("no geometry".into(), tally, None);
            return None;
        };
        let (geo, repaired) = match geometry::process_wkb(&wkb, transform, &self.opts.extent) {
            Ok(geometry::Outcome::Ok(g)) => (g, false),
            Ok(geometry::Outcome::Repaired(g, note)) => {
                *tally.notes.entry(note_key(&note)).or_default() += 1;
                (g, true)
            }
            Err(r) => {
                reject(r.0, tally, None);
                return None;
            }
        };
        let mut values = Vec::with_capacity(self.family_sources.len() + self.kept.len());
        if let Some(fam) = self.opts.family {
            for (ff, fs) in fam.fields().iter().zip(self.family_sources) {
                let raw = match fs {
                    FamilySource::Constant(c) => c.clone(),
                    FamilySource::Column(i) => {
                        self.mapping.map_value(ff.name, source_values[*i].clone())
                    }
                    FamilySource::Missing => Value::Null,
                };
                match raw.coerce(ff.kind) {
                    Some(v) => values.push(v),
                    None => {
                        let reason =
                            format!("field '{}': '{raw}' is not a {}", ff.name, ff.kind.name());
                        reject(reason, tally, Some(geo));
                        return None;
                    }
                }
            }
            match fam.check(&mut values) {
                Ok(notes) => {
                    for note in notes {
                        *tally.notes.entry(note).or_default() += 1;
                    }
                }
                Err(e) => {
                    reject(e.to_string(), tally, Some(geo));
                    return None;
                }
            }
        }
        // Moved, not cloned: nothing can reject the feature any more.
        let mut source_values = source_values;
        values.extend(
            self.kept
                .iter()
                .map(|&i| std::mem::replace(&mut source_values[i], Value::Null)),
        );
        tally.geometry_types.insert(geometry::geo_type_name(&geo));
        tally.imported += 1;
        tally.repaired += i64::from(repaired);
        Some(Feature {
            id: tally.imported,
            geometry: geo,
            values,
        })
    }
}

/// Groups reasons in the summary: per-value details (numbers, quoted values) are dropped.
fn reason_key(reason: &str) -> String {
    if let Some(i) = reason.find(": bbox") {
        return reason[..i].to_owned();
    }
    if reason.starts_with("invalid geometry: repair would change") {
        return "invalid geometry: repair would change it by more than 0.1 %".into();
    }
    reason.to_owned()
}

fn note_key(note: &str) -> String {
    note.split(" (").next().unwrap_or(note).to_owned()
}
