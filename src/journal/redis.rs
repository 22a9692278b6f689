//! `RedisJournal` (feature `redis`): the run journal of a fleet, in the fleet's Redis.
//!
//! # Keys
//!
//! With the backend's prefix (`aily:` by default); `<ns>` is a fingerprint of the
//! namespace given to [`RedisJournal::new`] (use one per Feishu app: a sweeper cancels
//! with its own credentials), in a Redis Cluster hash tag so a script may use both keys:
//!
//! | key | holds |
//! | --- | --- |
//! | `aily:{<ns>}:journal` | a hash: entry id → `{"owner":…,"claimed":bool,"id":…,"session_id":…,"at_ms":…,"run_id"?:…,"request_id"?:…}` |
//! | `aily:{<ns>}:journal-lease:<owner>` | present while the owner's lease runs (`SET … PX <lease>`) |
//!
//! An owner whose lease key is gone is dead. A sweeper claims each of its entries with
//! one script that, atomically, checks that the lease key is still absent and that the
//! entry still holds exactly the value the sweeper read, and then writes it back with
//! the sweeper as owner and `claimed: true` — so of several sweepers exactly one gets
//! each entry. Recording an entry is one `HSET`, naming its run another, completing it
//! one `HDEL`, a renewal one `SET PX`; each within the backend's budget
//! ([`RedisConfig::budget`](crate::fleet::store::redis::RedisConfig::budget)). Redis down:
//! `record` fails (so `create_run` fails, nothing sent), sweeps fail and are retried.
//! A value that does not parse or is out of bounds is skipped with one WARN per entry.

use std::collections::{HashMap, HashSet};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use redis::Script;
use serde::{Deserialize, Serialize};

use super::{
    Entry, EntryState, Pending, RunJournal, StoreError, StoreFuture, new_owner, sane_owner,
};
use crate::fleet::store::fingerprint;
use crate::fleet::store::redis::RedisBackend;

/// Claims an entry of a dead owner. KEYS[1] = the hash, KEYS[2] = the old owner's lease
/// key; ARGV[1] = the entry id, ARGV[2] = its value as read, ARGV[3] = the new value.
/// Returns 1 when this caller claimed it.
const CLAIM: &str = r"
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
";

static CLAIM_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CLAIM));

/// The most entries read from the hash in one sweep.
const MAX_SCANNED: usize = 10_000;
/// The most garbage entry ids remembered (each is warned of once).
const MAX_WARNED: usize = 10_000;
/// The longest value read as an entry.
const MAX_VALUE: usize = 4096;

/// An entry as the hash holds it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Stored {
    owner: String,
    #[serde(default)]
    claimed: bool,
    #[serde(flatten)]
    entry: Entry,
}

/// The run journal in Redis, for a fleet (see the [module](self) docs for the keys).
///
/// ```
/// use std::sync::Arc;
/// use aily_client::journal::RedisJournal;
/// use aily_client::store::redis::{RedisBackend, RedisConfig};
/// use aily_client::{Client, Credentials};
///
/// let backend = RedisBackend::new(RedisConfig::new("redis://127.0.0.1:6379"))?;
/// let client = Client::builder()
///     .credentials(Credentials::app("cli_a1", "secret"))
///     .journal(Arc::new(RedisJournal::new(&backend, "cli_a1")))
///     .build()?;
/// # let _ = client;
/// # Ok::<(), aily_client::Error>(())
/// ```
pub struct RedisJournal {
    backend: RedisBackend,
    owner: String,
    tag: String,
    hash: String,
    warned: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for RedisJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisJournal")
            .field("backend", &self.backend)
            .field("owner", &self.owner)
            .field("hash", &self.hash)
            .finish()
    }
}

impl RedisJournal {
    /// The journal of `namespace` (one per Feishu app: its entries are swept by clients
    /// of the same namespace, which must be able to cancel those runs) on `backend`,
    /// with a fresh owner.
    pub fn new(backend: &RedisBackend, namespace: &str) -> RedisJournal {
        let tag = fingerprint(&["journal", namespace]);
        RedisJournal {
            hash: backend.key(&tag, "journal"),
            backend: backend.clone(),
            owner: new_owner(),
            tag,
            warned: Mutex::new(HashSet::new()),
        }
    }

    fn lease_key(&self, owner: &str) -> String {
        self.backend
            .key(&self.tag, &format!("journal-lease:{owner}"))
    }

    async fn hset(&self, what: &'static str, stored: &Stored) -> Result<(), StoreError> {
        let value = serde_json::to_string(stored).map_err(|e| StoreError::new(e.to_string()))?;
        let (hash, id) = (self.hash.as_str(), stored.entry.id.as_str());
        self.backend
            .run(what, |mut conn| async move {
                redis::cmd("HSET")
                    .arg(hash)
                    .arg(id)
                    .arg(value)
                    .query_async::<i64>(&mut conn)
                    .await
            })
            .await
            .map(drop)
    }

    /// Every entry of the hash (at most [`MAX_SCANNED`]), with the value as read;
    /// garbage skipped, each warned of once.
    async fn scan(&self) -> Result<Vec<(Stored, String)>, StoreError> {
        let mut cursor: u64 = 0;
        let mut out = Vec::new();
        let mut garbage = Vec::new();
        loop {
            let hash = self.hash.as_str();
            let (next, items): (u64, Vec<(String, Vec<u8>)>) = self
                .backend
                .run("journal HSCAN", |mut conn| async move {
                    redis::cmd("HSCAN")
                        .arg(hash)
                        .arg(cursor)
                        .arg("COUNT")
                        .arg(500)
                        .query_async(&mut conn)
                        .await
                })
                .await?;
            for (id, value) in items {
                let parsed = (value.len() <= MAX_VALUE)
                    .then(|| serde_json::from_slice::<Stored>(&value).ok())
                    .flatten()
                    .filter(|s| s.entry.id == id && s.entry.is_sane() && sane_owner(&s.owner));
                match parsed {
                    Some(stored) => {
                        out.push((stored, String::from_utf8_lossy(&value).into_owned()))
                    }
                    None => garbage.push(id),
                }
            }
            cursor = next;
            if cursor == 0 || out.len() >= MAX_SCANNED {
                break;
            }
        }
        if !garbage.is_empty() {
            let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
            for id in garbage {
                if warned.len() < MAX_WARNED && warned.insert(id) {
                    tracing::warn!(
                        journal.hash = %self.hash,
                        "skipped a garbage entry in the run journal (not an entry this client wrote)"
                    );
                }
            }
        }
        Ok(out)
    }

    /// Whether each owner's lease is current (one `EXISTS` per owner).
    async fn leases(
        &self,
        owners: impl Iterator<Item = String>,
    ) -> Result<HashMap<String, bool>, StoreError> {
        let mut live = HashMap::new();
        for owner in owners {
            if live.contains_key(&owner) {
                continue;
            }
            let key = self.lease_key(&owner);
            let exists: bool = self
                .backend
                .run("journal EXISTS", |mut conn| async move {
                    redis::cmd("EXISTS").arg(&key).query_async(&mut conn).await
                })
                .await?;
            live.insert(owner, exists);
        }
        Ok(live)
    }
}

impl RunJournal for RedisJournal {
    fn owner(&self) -> &str {
        &self.owner
    }

    fn record<'a>(&'a self, entry: &'a Entry) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let stored = Stored {
                owner: self.owner.clone(),
                claimed: false,
                entry: entry.clone(),
            };
            self.hset("journal HSET", &stored).await
        })
    }

    fn name_run<'a>(&'a self, entry: &'a Entry) -> StoreFuture<'a, ()> {
        self.record(entry)
    }

    fn complete<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let hash = self.hash.as_str();
            self.backend
                .run("journal HDEL", |mut conn| async move {
                    redis::cmd("HDEL")
                        .arg(hash)
                        .arg(id)
                        .query_async::<i64>(&mut conn)
                        .await
                })
                .await
                .map(drop)
        })
    }

    fn renew(&self, lease: Duration) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let key = self.lease_key(&self.owner);
            let ms = lease.as_millis().clamp(1, i64::MAX as u128) as i64;
            self.backend
                .run("journal SET PX", |mut conn| async move {
                    redis::cmd("SET")
                        .arg(&key)
                        .arg(1)
                        .arg("PX")
                        .arg(ms)
                        .query_async::<()>(&mut conn)
                        .await
                })
                .await
        })
    }

    fn claim_lapsed(&self, max: usize) -> StoreFuture<'_, usize> {
        Box::pin(async move {
            let entries = self.scan().await?;
            let others = entries
                .iter()
                .filter(|(s, _)| s.owner != self.owner)
                .map(|(s, _)| s.owner.clone());
            let live = self.leases(others).await?;
            let mut claimed = 0;
            for (stored, read) in entries {
                if claimed >= max {
                    break;
                }
                if stored.owner == self.owner || live.get(&stored.owner).copied().unwrap_or(true) {
                    continue;
                }
                let lease = self.lease_key(&stored.owner);
                let mine = Stored {
                    owner: self.owner.clone(),
                    claimed: true,
                    entry: stored.entry,
                };
                let new =
                    serde_json::to_string(&mine).map_err(|e| StoreError::new(e.to_string()))?;
                let (hash, id) = (self.hash.as_str(), mine.entry.id.as_str());
                let won: i64 = self
                    .backend
                    .run("journal claim", |mut conn| async move {
                        CLAIM_SCRIPT
                            .key(hash)
                            .key(&lease)
                            .arg(id)
                            .arg(&read)
                            .arg(&new)
                            .invoke_async(&mut conn)
                            .await
                    })
                    .await?;
                if won == 1 {
                    claimed += 1;
                }
            }
            #[cfg(feature = "metrics")]
            metrics::counter!(super::ORPHANS).increment(claimed as u64);
            Ok(claimed)
        })
    }

    fn claimed(&self, max: usize) -> StoreFuture<'_, Vec<Entry>> {
        Box::pin(async move {
            Ok(self
                .scan()
                .await?
                .into_iter()
                .filter(|(s, _)| s.owner == self.owner && s.claimed)
                .take(max)
                .map(|(s, _)| s.entry)
                .collect())
        })
    }

    fn pending(&self, max: usize) -> StoreFuture<'_, Vec<Pending>> {
        Box::pin(async move {
            let entries = self.scan().await?;
            let live = self
                .leases(entries.iter().map(|(s, _)| s.owner.clone()))
                .await?;
            Ok(entries
                .into_iter()
                .take(max)
                .map(|(s, _)| {
                    let state = match (live.get(&s.owner).copied().unwrap_or(false), s.claimed) {
                        (false, _) => EntryState::Lapsed,
                        (true, true) => EntryState::Claimed,
                        (true, false) => EntryState::Live,
                    };
                    Pending {
                        entry: s.entry,
                        owner: s.owner,
                        state,
                    }
                })
                .collect())
        })
    }
}
