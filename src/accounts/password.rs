//! argon2id hashing on a small, fixed set of threads, each reusing one memory block.
//!
//! Each hash needs 19 MiB of working memory. Run through `spawn_blocking`, every hash landed on
//! whichever blocking thread was free, each thread's allocator arena kept its 19 MiB, and resident
//! memory grew with the number of log-ins (500 MB after 60 of them). Here a fixed number of threads
//! ([`threads`]) each allocate their block at the start of a run of log-ins and hash into it with
//! [`Argon2::hash_password_into_with_memory`], so hashing costs `threads() × 19 MiB`, however many
//! hashes are made; when no log-in is waiting the block is given back (the server's allocator
//! returns it to the system), so a server that only serves pages holds none. Requests wait their turn in one first-come, first-served queue: a burst of
//! log-ins is served in order, never refused, and pages keep a core to themselves.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, mpsc};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, Version};

use crate::domain::NewPassword;

/// OWASP's first argon2id row: m = 19 MiB, t = 2, p = 1 (the crate's defaults).
fn params() -> Params {
    Params::DEFAULT
}

/// A stored hash that asks for more memory than this is refused rather than verified (nothing we
/// wrote asks for more than 19 MiB; a corrupt row must not make us allocate gigabytes).
const MAX_VERIFY_KIB: u32 = 64 * 1024;

/// How long a caller waits in the queue before it is told to try again (well under the 30 s a
/// request may take). With one hash taking ~40 ms, that is hundreds of people ahead.
pub const QUEUE_PATIENCE: Duration = Duration::from_secs(20);

/// Hashing threads: half the cores (at least one), so that page requests always keep a core even
/// during a burst of log-ins.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("too many people are signing in at once")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

enum Work {
    Hash(String),
    Verify(String, Option<String>),
}

enum Answer {
    Hashed(Result<String, String>),
    Verified(bool),
}

struct Job {
    work: Work,
    reply: tokio::sync::oneshot::Sender<Answer>,
}

struct Pool {
    jobs: Mutex<mpsc::Sender<Job>>,
    waiting: AtomicUsize,
}

static POOL: LazyLock<Pool> = LazyLock::new(|| {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for n in 0..threads() {
        let rx = rx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("argon2-{n}"))
            .spawn(move || worker(&rx));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a password-hashing thread");
        }
    }
    Pool {
        jobs: Mutex::new(tx),
        waiting: AtomicUsize::new(0),
    }
});

/// How many hashes are queued or running right now (for the metrics and the busy notice).
pub fn queued() -> usize {
    POOL.waiting.load(Ordering::Relaxed)
}

fn worker(rx: &Mutex<mpsc::Receiver<Job>>) {
    // Allocated for the first job of a run of log-ins and reused for every hash of the run; given
    // back when nobody is waiting, so a server that is only serving pages holds no 19 MiB block.
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let rx = match rx.lock() {
            Ok(rx) => rx,
            Err(poisoned) => poisoned.into_inner(),
        };
        let job = match rx.try_recv() {
            Ok(job) => job,
            Err(mpsc::TryRecvError::Disconnected) => return,
            Err(mpsc::TryRecvError::Empty) => {
                // Nobody waiting: give the block back before waiting for the next log-in.
                memory = Vec::new();
                match rx.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                }
            }
        };
        drop(rx);
        let answer = match job.work {
            Work::Hash(password) => Answer::Hashed(hash_now(&password, &mut memory)),
            Work::Verify(password, stored) => Answer::Verified(verify_now(&password, stored.as_deref(), &mut memory)),
        };
        let _ = job.reply.send(answer);
    }
}

fn memory_for<'m>(memory: &'m mut Vec<Block>, params: &Params) -> &'m mut [Block] {
    let needed = params.block_count();
    if memory.len() < needed {
        memory.resize(needed, Block::default());
    }
    &mut memory[..needed]
}

fn hash_now(password: &str, memory: &mut Vec<Block>) -> Result<String, String> {
    let params = params();
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, memory_for(memory, &params))
        .map_err(|e| e.to_string())?;
    let phc = PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
        salt: Some(Salt::new(&salt).map_err(|e| e.to_string())?),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
}

fn verify_now(password: &str, stored: Option<&str>, memory: &mut Vec<Block>) -> bool {
    match stored {
        Some(stored) => matches_hash(password, stored, memory).unwrap_or(false),
        None => {
            // Unknown account: the same work against a hash nobody knows, so the answer takes as
            // long either way.
            let _ = matches_hash(password, &DUMMY_HASH, memory);
            false
        }
    }
}

fn matches_hash(password: &str, stored: &str, memory: &mut Vec<Block>) -> Option<bool> {
    let phc = PasswordHash::new(stored).ok()?;
    let algorithm = Algorithm::try_from(phc.algorithm.as_str()).ok()?;
    let version = match phc.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::V0x10,
    };
    let params = Params::try_from(&phc).ok()?;
    if params.m_cost() > MAX_VERIFY_KIB {
        return None;
    }
    let (salt, expected) = (phc.salt?, phc.hash?);
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt.as_ref(),
            &mut out,
            memory_for(memory, &params),
        )
        .ok()?;
    // `Output` compares in constant time.
    Some(Output::new(&out).ok()? == expected)
}

/// The hash of a random password nobody knows, with the same parameters (made once).
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let (secret, _) = super::tokens::new_token();
    hash_now(&secret, &mut Vec::new()).unwrap_or_default()
});

async fn run(work: Work) -> Result<Answer, HashError> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    POOL.waiting.fetch_add(1, Ordering::Relaxed);
    let _done = Waiting;
    let sent = match POOL.jobs.lock() {
        Ok(jobs) => jobs.send(Job { work, reply }),
        Err(poisoned) => poisoned.into_inner().send(Job { work, reply }),
    };
    if sent.is_err() {
        return Err(HashError::Failed("no hashing thread is running".to_owned()));
    }
    let started = Instant::now();
    match tokio::time::timeout(QUEUE_PATIENCE, answer).await {
        Ok(Ok(answer)) => {
            let waited = started.elapsed();
            if waited > Duration::from_secs(2) {
                tracing::info!(
                    waited_ms = waited.as_millis() as u64,
                    "password check waited in the queue"
                );
            }
            Ok(answer)
        }
        Ok(Err(_)) => Err(HashError::Failed("the hashing thread stopped".to_owned())),
        // The job stays queued and is done for nobody; the caller gets a "busy, try again".
        Err(_) => Err(HashError::Busy),
    }
}

/// Decrements the queue count however the caller leaves (answered, timed out, or cancelled).
struct Waiting;

impl Drop for Waiting {
    fn drop(&mut self) {
        POOL.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

pub async fn hash(password: &NewPassword) -> Result<String, HashError> {
    match run(Work::Hash(password.expose().to_owned())).await? {
        Answer::Hashed(result) => result.map_err(HashError::Failed),
        Answer::Verified(_) => Err(HashError::Failed("unexpected answer".to_owned())),
    }
}

/// Checks a password against a stored hash. With no stored hash (unknown account) it checks against
/// a fixed one, so the answer takes as long either way.
pub async fn verify(password: &str, stored: Option<String>) -> Result<bool, HashError> {
    match run(Work::Verify(password.to_owned(), stored)).await? {
        Answer::Verified(ok) => Ok(ok),
        Answer::Hashed(_) => Err(HashError::Failed("unexpected answer".to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use argon2::PasswordVerifier;

    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let pw = NewPassword::parse("a long enough secret", &[]).unwrap();
        let h = hash(&pw).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(!h.contains("a long enough secret"));
        assert!(verify("a long enough secret", Some(h.clone())).await.unwrap());
        assert!(!verify("a wrong secret....", Some(h.clone())).await.unwrap());
        assert!(!verify("anything at all", None).await.unwrap());
        // The crate's own verifier agrees: the PHC string is standard.
        Argon2::default()
            .verify_password(b"a long enough secret", h.as_str())
            .unwrap();
    }

    #[tokio::test]
    async fn hashes_made_by_the_crate_still_verify() {
        use argon2::PasswordHasher;
        let old = Argon2::default()
            .hash_password(b"made before this pool")
            .unwrap()
            .to_string();
        assert!(verify("made before this pool", Some(old.clone())).await.unwrap());
        assert!(!verify("made before this poo1", Some(old)).await.unwrap());
    }

    #[tokio::test]
    async fn garbage_and_greedy_hashes_are_refused_not_allocated() {
        assert!(!verify("x", Some("not a hash".to_owned())).await.unwrap());
        let greedy = "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(!verify("x", Some(greedy.to_owned())).await.unwrap());
    }

    #[test]
    fn dummy_hash_is_a_real_argon2id_hash() {
        assert!(DUMMY_HASH.starts_with("$argon2id$"), "{}", *DUMMY_HASH);
    }
}
