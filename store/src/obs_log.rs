//! The embedded store's observations: one append-only log per datastream
//! (`observations/ds-000001.log`) of fixed 32-byte records, each with its own CRC-32. A batch
//! is written and `fdatasync`ed before it is acknowledged; a crash can leave at most a torn
//! last batch, which the next writer or reader cuts off at the first record that does not
//! check. Processes append under the data dir's lock, and a (datastream, time) already in the
//! log is skipped, so a re-sent batch writes nothing twice.
//!
//! Record: magic `cuob` · datastream u32 · phenomenon time i64 (ms) · result f64 · quality u8 ·
//! 3 zero bytes · CRC-32 of the 28 bytes before it. Little-endian.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use cuulong_core::sta::{Observation, Quality};

use crate::{Result, StoreError};

pub const RECORD: usize = 32;
const MAGIC: &[u8; 4] = b"cuob";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub fn encode(o: &Observation) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    r[0..4].copy_from_slice(MAGIC);
    r[4..8].copy_from_slice(&o.datastream.to_le_bytes());
    r[8..16].copy_from_slice(&o.time_ms.to_le_bytes());
    r[16..24].copy_from_slice(&o.result.to_le_bytes());
    r[24] = o.quality.as_u8();
    let crc = crc32fast::hash(&r[..28]);
    r[28..32].copy_from_slice(&crc.to_le_bytes());
    r
}

/// The observation of a record, if it is whole and checks.
pub fn decode(r: &[u8]) -> Option<Observation> {
    if r.len() != RECORD || &r[0..4] != MAGIC {
        return None;
    }
    let crc = u32::from_le_bytes(r[28..32].try_into().ok()?);
    if crc32fast::hash(&r[..28]) != crc {
        return None;
    }
    Some(Observation {
        datastream: u32::from_le_bytes(r[4..8].try_into().ok()?),
        time_ms: i64::from_le_bytes(r[8..16].try_into().ok()?),
        result: f64::from_le_bytes(r[16..24].try_into().ok()?),
        quality: Quality::from_u8(r[24])?,
    })
}

/// The records of a log up to the first that does not check, and the byte length they fill.
fn read_valid(bytes: &[u8]) -> (Vec<Observation>, u64) {
    let mut out = Vec::with_capacity(bytes.len() / RECORD);
    for chunk in bytes.chunks(RECORD) {
        match decode(chunk) {
            Some(o) => out.push(o),
            None => break,
        }
    }
    let len = (out.len() * RECORD) as u64;
    (out, len)
}

/// What one process knows of a datastream's log: the times in it and the length it had.
#[derive(Default)]
struct Known {
    times: HashSet<i64>,
    len: u64,
}

/// The logs of one data dir, for one process.
pub struct ObservationLogs {
    dir: PathBuf,
    known: std::sync::Mutex<HashMap<u32, Known>>,
}

impl ObservationLogs {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("observations"),
            known: Default::default(),
        }
    }

    pub fn path(&self, datastream: u32) -> PathBuf {
        self.dir.join(format!("ds-{datastream:06}.log"))
    }

    /// Every observation of a datastream in its log, in the order written (a re-sent time
    /// appears once: the first one written stands).
    pub fn read(&self, datastream: u32) -> Result<Vec<Observation>> {
        let path = self.path(datastream);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&path)(e)),
        };
        let (mut obs, _) = read_valid(&bytes);
        let mut seen = HashSet::with_capacity(obs.len());
        obs.retain(|o| o.datastream == datastream && seen.insert(o.time_ms));
        Ok(obs)
    }

    /// Appends the observations not yet in their logs and makes them durable; returns how many
    /// were new. Call with the data dir's lock held (it orders processes).
    pub fn append(&self, batch: &[Observation]) -> Result<u64> {
        let mut by_stream: HashMap<u32, Vec<&Observation>> = HashMap::new();
        for o in batch {
            by_stream.entry(o.datastream).or_default().push(o);
        }
        let mut known = self
            .known
            .lock()
            .map_err(|_| StoreError::Config("observation log state poisoned".into()))?;
        let mut new = 0;
        if !self.dir.exists() {
            fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        }
        for (ds, obs) in by_stream {
            let path = self.path(ds);
            let created = !path.exists();
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io(&path))?;
            let k = known.entry(ds).or_default();
            catch_up(&mut file, &path, k)?;
            let mut bytes = Vec::with_capacity(obs.len() * RECORD);
            for o in obs {
                if k.times.insert(o.time_ms) {
                    bytes.extend_from_slice(&encode(o));
                }
            }
            if bytes.is_empty() {
                continue;
            }
            file.seek(SeekFrom::Start(k.len)).map_err(io(&path))?;
            file.write_all(&bytes).map_err(io(&path))?;
            file.sync_data().map_err(io(&path))?;
            if created {
                File::open(&self.dir)
                    .and_then(|d| d.sync_all())
                    .map_err(io(&self.dir))?;
            }
            k.len += bytes.len() as u64;
            new += (bytes.len() / RECORD) as u64;
        }
        Ok(new)
    }
}

/// Brings what this process knows of a log up to the file: reads what others appended since,
/// and cuts off a torn tail (a batch a crash left half-written was never acknowledged).
fn catch_up(file: &mut File, path: &Path, k: &mut Known) -> Result<()> {
    let len = file.metadata().map_err(io(path))?.len();
    if len == k.len {
        return Ok(());
    }
    let from = if len > k.len { k.len } else { 0 };
    if from == 0 {
        k.times.clear();
    }
    file.seek(SeekFrom::Start(from)).map_err(io(path))?;
    let mut bytes = Vec::with_capacity((len - from) as usize);
    file.read_to_end(&mut bytes).map_err(io(path))?;
    let (obs, valid) = read_valid(&bytes);
    k.times.extend(obs.iter().map(|o| o.time_ms));
    k.len = from + valid;
    if k.len < len {
        tracing::warn!(
            file = %path.display(),
            bytes = len - k.len,
            "observation log: cutting off a torn last batch (never acknowledged)"
        );
        file.set_len(k.len).map_err(io(path))?;
        file.sync_data().map_err(io(path))?;
    }
    Ok(())
}

/// The datastreams that have a log.
pub fn datastreams(data_dir: &Path) -> Result<Vec<u32>> {
    let dir = data_dir.join("observations");
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(&dir)(e)),
    };
    let mut out = Vec::new();
    for e in entries {
        let name = e.map_err(io(&dir))?.file_name();
        if let Some(id) = name
            .to_str()
            .and_then(|n| n.strip_prefix("ds-"))
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse().ok())
        {
            out.push(id);
        }
    }
    out.sort_unstable();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(ds: u32, t: i64, v: f64) -> Observation {
        Observation {
            datastream: ds,
            time_ms: t,
            result: v,
            quality: Quality::Good,
        }
    }

    #[test]
    fn records_round_trip_and_a_flipped_bit_is_caught() {
        let o = obs(7, 1_764_460_800_000, 4.25);
        let mut r = encode(&o);
        assert_eq!(decode(&r), Some(o));
        r[17] ^= 1;
        assert_eq!(decode(&r), None);
        assert_eq!(decode(&r[..20]), None);
    }

    #[test]
    fn appends_skip_what_is_logged_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let logs = ObservationLogs::new(dir.path());
        let batch: Vec<_> = (0..10).map(|i| obs(1, i * 1000, i as f64)).collect();
        assert_eq!(logs.append(&batch).unwrap(), 10);
        assert_eq!(
            logs.append(&batch).unwrap(),
            0,
            "a re-sent batch writes nothing"
        );
        // A second process (fresh state) sees the same log and skips the same times.
        let other = ObservationLogs::new(dir.path());
        assert_eq!(other.append(&batch[5..]).unwrap(), 0);
        // A crash in the middle of a record: the torn bytes go, the rest stays.
        let path = logs.path(1);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&encode(&obs(1, 99_000, 9.9))[..13]).unwrap();
        drop(f);
        assert_eq!(logs.read(1).unwrap().len(), 10);
        let third = ObservationLogs::new(dir.path());
        assert_eq!(third.append(&[obs(1, 20_000, 2.0)]).unwrap(), 1);
        let all = third.read(1).unwrap();
        assert_eq!(all.len(), 11);
        assert_eq!(all.last().unwrap().time_ms, 20_000);
        assert_eq!(fs::metadata(&path).unwrap().len(), 11 * RECORD as u64);
        assert_eq!(datastreams(dir.path()).unwrap(), vec![1]);
    }
}
