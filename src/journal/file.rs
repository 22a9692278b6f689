//! [`FileJournal`]: the run journal in a directory, for one process or a few on one
//! machine (the `aily` CLI).
//!
//! # Format
//!
//! In the directory (created `0700`; files `0600`), per owner `<owner>` (`<pid>-<16 hex>`):
//!
//! | file | holds |
//! | --- | --- |
//! | `<owner>.lease` | the lease's expiry, Unix ms, as decimal text; rewritten whole at each renewal (written to `.<owner>.lease.tmp`, then `rename`d over it) |
//! | `<owner>.live.jsonl` | the owner's entries, one JSON object a line, appended: `{"op":"start","id":…,"session_id":…,"at_ms":…,"request_id"?:…}`, then `{"op":"run","id":…,"run_id":…}`, then `{"op":"done","id":…}` |
//! | `<owner>.claimed-<32 hex>.jsonl` | entries this owner claimed from a dead one (same lines) |
//!
//! An owner whose lease file is missing, unreadable or past its expiry is dead. A sweeper
//! **claims** each of a dead owner's `.jsonl` files by `rename`-ing it to a `claimed-`
//! name of its own: `rename(2)` is atomic, so of several sweepers exactly one succeeds
//! (the others find the file gone), and the claimed entries are then covered by the
//! claimer's lease. It appends `done` lines as it settles them and removes the file when
//! none is left. Files of other names are ignored.
//!
//! Each append is one `write(2)` of one line by the only writer of that file, so a crash
//! leaves at worst a torn last line; a line that does not parse, is longer than
//! [`MAX_LINE`], or holds a field out of bounds is skipped with one WARN per file, and a
//! file is read up to [`MAX_FILE`] bytes. The live file is truncated when it holds no
//! pending entry and has grown past 1 MiB. By default nothing is `fsync`ed: an entry
//! survives the process being killed (it is in the kernel once the write returns), not
//! the machine losing power; [`FileJournal::durable`] syncs each append.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    Entry, EntryState, Pending, RunJournal, StoreError, StoreFuture, new_id, new_owner, now_ms,
    sane_owner,
};
use crate::error::Error;

/// The longest line read; a longer one is garbage.
pub const MAX_LINE: usize = 4096;
/// The most bytes read of one journal file.
pub const MAX_FILE: u64 = 64 << 20;
/// The live file is truncated past this size once nothing in it is pending.
const COMPACT_AT: u64 = 1 << 20;

/// One line of a journal file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Line {
    Start(Entry),
    Run { id: String, run_id: String },
    Done { id: String },
}

/// The run journal in a directory: an append-only JSON-lines file per owner, a lease
/// file per owner, claims by `rename` (see the [module](self) docs for the format).
///
/// ```
/// use aily_client::journal::{FileJournal, RunJournal};
/// let dir = std::env::temp_dir().join(format!("aily-file-journal-doc-{}", std::process::id()));
/// let journal = FileJournal::open(&dir)?;
/// assert!(!journal.owner().is_empty());
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), aily_client::Error>(())
/// ```
#[derive(Clone)]
pub struct FileJournal {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    owner: String,
    durable: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The live file, open for appending (opened on first use, again if it was claimed).
    live: Option<File>,
    /// Ids pending in the live file.
    live_ids: HashSet<String>,
    /// Claimed entries: id → (its file, the entry).
    claimed: HashMap<String, (PathBuf, Entry)>,
    /// Claimed files → how many of their entries are pending.
    claimed_files: HashMap<PathBuf, usize>,
}

impl std::fmt::Debug for FileJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileJournal")
            .field("dir", &self.inner.dir)
            .field("owner", &self.inner.owner)
            .field("durable", &self.inner.durable)
            .finish()
    }
}

impl FileJournal {
    /// The journal in `dir` (created, mode `0700`, if missing), with a fresh owner.
    /// Writes nothing else until used.
    pub fn open(dir: impl AsRef<Path>) -> Result<FileJournal, Error> {
        let dir = dir.as_ref().to_path_buf();
        create_dir(&dir).map_err(|e| {
            Error::config(format!(
                "cannot create the run journal's directory {}: {e}",
                dir.display()
            ))
        })?;
        Ok(FileJournal {
            inner: Arc::new(Inner {
                dir,
                owner: new_owner(),
                durable: false,
                state: Mutex::new(State::default()),
            }),
        })
    }

    /// `fsync` every append (default off): entries then survive the machine losing
    /// power, not only the process dying, at the cost of a disk flush per write.
    pub fn durable(self, durable: bool) -> FileJournal {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            dir: shared.dir.clone(),
            owner: shared.owner.clone(),
            durable: shared.durable,
            state: Mutex::new(State::default()),
        });
        FileJournal {
            inner: Arc::new(Inner { durable, ..inner }),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.inner.dir.join(name)
    }

    fn live_path(&self) -> PathBuf {
        self.path(&format!("{}.live.jsonl", self.inner.owner))
    }

    fn append_live(&self, state: &mut State, line: &Line) -> Result<(), StoreError> {
        if state.live.is_none() {
            state.live = Some(open_append(&self.live_path()).map_err(io_error)?);
        }
        let file = state.live.as_mut().expect("opened above");
        append(file, line, self.inner.durable)
    }

    fn append_at(&self, path: &Path, line: &Line) -> Result<(), StoreError> {
        let mut file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io_error)?;
        append(&mut file, line, self.inner.durable)
    }

    /// Claims the `.jsonl` files of a dead owner; returns the entries claimed.
    fn claim_owner(&self, files: &[String], max: usize) -> usize {
        let mut claimed = 0;
        for name in files {
            if claimed >= max {
                break;
            }
            let from = self.path(name);
            let to = self.path(&format!("{}.claimed-{}.jsonl", self.inner.owner, new_id()));
            // Atomic: of several sweepers, exactly one renames the file.
            if fs::rename(&from, &to).is_err() {
                continue;
            }
            let entries = read_entries(&to);
            if entries.is_empty() {
                let _ = fs::remove_file(&to);
                continue;
            }
            claimed += entries.len();
            let mut state = self.state();
            state.claimed_files.insert(to.clone(), entries.len());
            for entry in entries {
                state.claimed.insert(entry.id.clone(), (to.clone(), entry));
            }
        }
        claimed
    }
}

impl RunJournal for FileJournal {
    fn owner(&self) -> &str {
        &self.inner.owner
    }

    fn record<'a>(&'a self, entry: &'a Entry) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut state = self.state();
            self.append_live(&mut state, &Line::Start(entry.clone()))?;
            state.live_ids.insert(entry.id.clone());
            Ok(())
        })
    }

    fn name_run<'a>(&'a self, entry: &'a Entry) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let Some(run_id) = &entry.run_id else {
                return Ok(());
            };
            let mut state = self.state();
            self.append_live(
                &mut state,
                &Line::Run {
                    id: entry.id.clone(),
                    run_id: run_id.clone(),
                },
            )
        })
    }

    fn complete<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut state = self.state();
            let done = Line::Done { id: id.to_owned() };
            if let Some((path, _)) = state.claimed.remove(id) {
                self.append_at(&path, &done)?;
                let left = state.claimed_files.get_mut(&path).map(|n| {
                    *n = n.saturating_sub(1);
                    *n
                });
                if left == Some(0) {
                    state.claimed_files.remove(&path);
                    let _ = fs::remove_file(&path);
                }
                return Ok(());
            }
            if !state.live_ids.remove(id) {
                return Ok(());
            }
            self.append_live(&mut state, &done)?;
            if state.live_ids.is_empty()
                && let Some(file) = &state.live
                && file.metadata().is_ok_and(|m| m.len() > COMPACT_AT)
            {
                let _ = file.set_len(0);
            }
            Ok(())
        })
    }

    fn renew(&self, lease: Duration) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let expiry = now_ms() + lease.as_millis() as u64;
            let tmp = self.path(&format!(".{}.lease.tmp", self.inner.owner));
            let path = self.path(&format!("{}.lease", self.inner.owner));
            write_new(&tmp, expiry.to_string().as_bytes()).map_err(io_error)?;
            fs::rename(&tmp, &path).map_err(io_error)?;
            let mut state = self.state();
            if state.live.is_some() && !self.live_path().exists() {
                // Another process took this owner for dead and claimed its file: the
                // next entry starts a new one.
                tracing::warn!(
                    journal.owner = %self.inner.owner,
                    "the run journal's lease had lapsed and its entries were taken over by a sweeper"
                );
                state.live = None;
                state.live_ids.clear();
            }
            Ok(())
        })
    }

    fn claim_lapsed(&self, max: usize) -> StoreFuture<'_, usize> {
        Box::pin(async move {
            let owners = list_owners(&self.inner.dir).map_err(io_error)?;
            let now = now_ms();
            let mut claimed = 0;
            for (owner, files) in owners {
                if owner == self.inner.owner
                    || lease_expiry(&self.inner.dir, &owner).is_some_and(|expiry| expiry > now)
                {
                    continue;
                }
                claimed += self.claim_owner(&files.jsonl, max.saturating_sub(claimed));
                // Its files are claimed (by this sweeper or another): the lease goes.
                if !files.jsonl.iter().any(|f| self.path(f).exists()) {
                    let _ = fs::remove_file(self.path(&format!("{owner}.lease")));
                }
                if claimed >= max {
                    break;
                }
            }
            #[cfg(feature = "metrics")]
            metrics::counter!(super::ORPHANS).increment(claimed as u64);
            Ok(claimed)
        })
    }

    fn claimed(&self, max: usize) -> StoreFuture<'_, Vec<Entry>> {
        Box::pin(async move {
            let state = self.state();
            Ok(state
                .claimed
                .values()
                .take(max)
                .map(|(_, entry)| entry.clone())
                .collect())
        })
    }

    fn pending(&self, max: usize) -> StoreFuture<'_, Vec<Pending>> {
        Box::pin(async move {
            let owners = list_owners(&self.inner.dir).map_err(io_error)?;
            let now = now_ms();
            let mut out = Vec::new();
            for (owner, files) in owners {
                let live = lease_expiry(&self.inner.dir, &owner).is_some_and(|e| e > now);
                for name in &files.jsonl {
                    let claimed_file = name.contains(".claimed-");
                    let state = match (live, claimed_file) {
                        (false, _) => EntryState::Lapsed,
                        (true, true) => EntryState::Claimed,
                        (true, false) => EntryState::Live,
                    };
                    for entry in read_entries(&self.path(name)) {
                        if out.len() >= max {
                            return Ok(out);
                        }
                        out.push(Pending {
                            entry,
                            owner: owner.clone(),
                            state,
                        });
                    }
                }
            }
            Ok(out)
        })
    }
}

/// The files of one owner in the directory.
#[derive(Default)]
struct OwnerFiles {
    jsonl: Vec<String>,
}

/// Every owner with a file in `dir`, and its `.jsonl` files (sorted, for a stable order).
fn list_owners(dir: &Path) -> std::io::Result<Vec<(String, OwnerFiles)>> {
    let mut owners: HashMap<String, OwnerFiles> = HashMap::new();
    for item in fs::read_dir(dir)? {
        let Ok(item) = item else { continue };
        let Ok(name) = item.file_name().into_string() else {
            continue;
        };
        let Some((owner, rest)) = name.split_once('.') else {
            continue;
        };
        if !sane_owner(owner) {
            continue;
        }
        let files = owners.entry(owner.to_owned()).or_default();
        if rest.ends_with(".jsonl") && (rest == "live.jsonl" || rest.starts_with("claimed-")) {
            files.jsonl.push(name);
        }
    }
    let mut owners: Vec<_> = owners.into_iter().collect();
    owners.sort_by(|a, b| a.0.cmp(&b.0));
    for (_, files) in &mut owners {
        files.jsonl.sort();
    }
    Ok(owners)
}

/// The expiry an owner's lease file holds; `None` when it is missing or garbage (a
/// garbage one is warned of).
fn lease_expiry(dir: &Path, owner: &str) -> Option<u64> {
    let mut text = String::new();
    File::open(dir.join(format!("{owner}.lease")))
        .ok()?
        .take(64)
        .read_to_string(&mut text)
        .ok()?;
    match text.trim().parse() {
        Ok(expiry) => Some(expiry),
        Err(_) => {
            tracing::warn!(
                journal.owner = %owner,
                "a run journal lease file holds garbage; its owner counts as dead"
            );
            None
        }
    }
}

/// The entries still pending in a journal file, in order; garbage is skipped with one
/// WARN for the file.
fn read_entries(path: &Path) -> Vec<Entry> {
    let Ok(file) = File::open(path) else {
        return Vec::new();
    };
    let mut reader = BufReader::new(file.take(MAX_FILE));
    let mut order: Vec<String> = Vec::new();
    let mut entries: HashMap<String, Entry> = HashMap::new();
    let mut garbage = 0usize;
    let mut line = Vec::new();
    loop {
        line.clear();
        // Bounded: a line longer than MAX_LINE is read in pieces and counted as garbage.
        let read = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line);
        match read {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if line.len() > MAX_LINE || line.last() != Some(&b'\n') {
            garbage += 1;
            // Skip the rest of an over-long line.
            if line.len() > MAX_LINE && line.last() != Some(&b'\n') {
                let mut rest = Vec::new();
                let _ = (&mut reader).take(MAX_FILE).read_until(b'\n', &mut rest);
            }
            continue;
        }
        match serde_json::from_slice::<Line>(&line) {
            Ok(Line::Start(entry)) if entry.is_sane() && entry.run_id.is_none() => {
                if !entries.contains_key(&entry.id) {
                    order.push(entry.id.clone());
                }
                entries.insert(entry.id.clone(), entry);
            }
            Ok(Line::Run { id, run_id })
                if run_id.len() <= super::MAX_FIELD_LEN
                    && !run_id.is_empty()
                    && !run_id.chars().any(char::is_control) =>
            {
                match entries.get_mut(&id) {
                    Some(entry) => entry.run_id = Some(run_id),
                    None => garbage += 1,
                }
            }
            Ok(Line::Done { id }) => {
                entries.remove(&id);
            }
            _ => garbage += 1,
        }
    }
    if garbage > 0 {
        tracing::warn!(
            journal.file = %path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            skipped = garbage,
            "skipped garbage in a run journal file"
        );
    }
    order
        .into_iter()
        .filter_map(|id| entries.remove(&id))
        .collect()
}

fn append(file: &mut File, line: &Line, durable: bool) -> Result<(), StoreError> {
    let mut bytes = serde_json::to_vec(line).map_err(|e| StoreError::new(e.to_string()))?;
    bytes.push(b'\n');
    // One write of one line: a crash leaves at worst a torn last line.
    file.write_all(&bytes).map_err(io_error)?;
    if durable {
        file.sync_data().map_err(io_error)?;
    }
    Ok(())
}

fn io_error(e: std::io::Error) -> StoreError {
    StoreError::new(format!("run journal file: {}", e.kind()))
}

#[cfg(unix)]
fn create_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

fn open_append(path: &Path) -> std::io::Result<File> {
    options().create(true).append(true).open(path)
}

fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = options()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)?;
    file.write_all(bytes)
}
