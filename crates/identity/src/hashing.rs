//! Password hashing: argon2id with OWASP's recommended parameters, run off the async runtime on
//! a fixed set of worker threads at the lowest scheduling priority.
//!
//! argon2 is deliberately slow and memory-hungry (7 MiB and tens of milliseconds per hash). Run
//! on the async workers it would stall every other request; run unbounded, a flood of sign-ins
//! would take every core and memory with it. So hashes run on exactly `hash_concurrency`
//! threads of their own and the flood queues for them.
//!
//! The threads run in Linux's idle scheduling class (at nice 19 where that is refused): a hash
//! then takes whatever CPU the service's requests leave idle, so sign-ins use every core when
//! nothing else runs, and a request's thread preempts a hashing one as soon as it wakes.
//!
//! Why threads of our own rather than `spawn_blocking` behind a semaphore: the blocking pool
//! hands successive hashes to ever new threads, each with its own allocator arena, and every
//! arena keeps its block after the hash is done, so the resident set grows with each new
//! thread; a fixed set of threads reuses its arenas (docs/performance.md, "Memory").

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::{OnceCell, oneshot};

use crate::{IdentityError, Password, PasswordHash};

/// OWASP Password Storage Cheat Sheet, argon2id: m = 7 MiB, t = 5, p = 1, one of the five
/// configurations it lists as equally strong (they trade memory for passes). The smallest
/// memory one, because every hash in flight is resident memory of the service: 7 MiB per
/// hashing thread instead of 19 MiB at m = 19 MiB, t = 2, for the same CPU per hash. Hashes
/// stored with other parameters keep verifying: a PHC string carries its own.
const M_COST_KIB: u32 = 7_168;
const T_COST: u32 = 5;
const P_COST: u32 = 1;

/// The hasher with the crate's fixed parameters.
fn argon2() -> Result<Argon2<'static>, IdentityError> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).map_err(|err| {
        tracing::error!(error = %err, "invalid argon2 parameters");
        IdentityError::Hashing
    })?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A PHC string for `secret` with a fresh 16-byte salt from the OS random source.
fn hash_blocking(secret: &[u8]) -> Result<String, IdentityError> {
    let hash = argon2()?.hash_password(secret).map_err(|err| {
        tracing::error!(error = %err, "argon2 hashing failed");
        IdentityError::Hashing
    })?;
    Ok(hash.to_string())
}

/// Whether `secret` matches the PHC string `phc` (whose own parameters are used).
fn verify_blocking(secret: &[u8], phc: &str) -> Result<bool, IdentityError> {
    match argon2()?.verify_password(secret, phc) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(err) => {
            tracing::error!(error = %err, "argon2 verification failed (unreadable stored hash?)");
            Err(IdentityError::Hashing)
        }
    }
}

/// A unit of hashing work for the worker threads.
type Job = Box<dyn FnOnce() + Send>;

/// Runs password hashes on `concurrency` threads of its own; the threads end when the last
/// clone of the hasher is dropped.
#[derive(Clone)]
pub(crate) struct Hasher {
    jobs: mpsc::Sender<Job>,
    concurrency: usize,
    /// The hash that sign-ins without a credential verify against, so that they cost as much
    /// as a wrong password. Computed on first use, with the same parameters as real hashes.
    dummy: Arc<OnceCell<String>>,
    /// Hashes queued and not yet started: the argon2 queue an operator watches.
    waiting: Arc<AtomicUsize>,
}

impl Hasher {
    /// A hasher running at most `concurrency` hashes at once (at least one, at most 1024).
    pub(crate) fn new(concurrency: usize) -> Self {
        let concurrency = concurrency.clamp(1, 1024);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..concurrency {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    lowest_priority();
                    work(&queue);
                });
            if let Err(err) = spawned {
                // Fewer workers only means a longer queue; with none, `run` reports the error.
                tracing::error!(error = %err, "cannot start a password hashing thread");
            }
        }
        Self {
            jobs,
            concurrency,
            dummy: Arc::new(OnceCell::new()),
            waiting: Arc::default(),
        }
    }

    /// How many hashes may run at once.
    pub(crate) fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// How many hashes wait for a worker thread right now.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Queues `job` for the worker threads and waits for its result. A queued job runs even if
    /// the caller stops waiting (a timed-out request): the bound is on CPU work actually
    /// running, not on callers still interested.
    pub(crate) async fn run<T, F>(&self, job: F) -> Result<T, IdentityError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, IdentityError> + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let waiting = self.waiting.clone();
        waiting.fetch_add(1, Ordering::Relaxed);
        let started = waiting.clone();
        let queued = self.jobs.send(Box::new(move || {
            started.fetch_sub(1, Ordering::Relaxed);
            let _ = done.send(job());
        }));
        if queued.is_err() {
            waiting.fetch_sub(1, Ordering::Relaxed);
            tracing::error!("no password hashing thread is running");
            return Err(IdentityError::Hashing);
        }
        result.await.map_err(|_| {
            tracing::error!("a password hashing job failed");
            IdentityError::Hashing
        })?
    }

    /// Hashes a new password.
    pub(crate) async fn hash(&self, password: Password) -> Result<PasswordHash, IdentityError> {
        let secret = password.into_secret();
        let phc = self.run(move || hash_blocking(secret.as_bytes())).await?;
        Ok(PasswordHash::from_phc(phc))
    }

    /// Checks `password` against a stored PHC string, or against the dummy hash when there is
    /// none (the answer is then always `false`, after the same amount of work).
    pub(crate) async fn verify(
        &self,
        password: &str,
        stored: Option<String>,
    ) -> Result<bool, IdentityError> {
        let (phc, real) = match stored {
            Some(phc) => (phc, true),
            None => (self.dummy().await?.to_owned(), false),
        };
        let secret = password.to_owned();
        let matches = self
            .run(move || verify_blocking(secret.as_bytes(), &phc))
            .await?;
        Ok(matches && real)
    }

    async fn dummy(&self) -> Result<&str, IdentityError> {
        let phc = self
            .dummy
            .get_or_try_init(|| async {
                let mut secret = [0u8; 32];
                getrandom::fill(&mut secret).map_err(|err| {
                    tracing::error!(error = %err, "the OS random source failed");
                    IdentityError::Hashing
                })?;
                self.run(move || hash_blocking(&secret)).await
            })
            .await?;
        Ok(phc)
    }
}

/// Puts the calling thread in Linux's idle scheduling class (`SCHED_IDLE`), at nice 19 too, so
/// that the service's other threads (requests, the database driver) always run first.
///
/// Why the idle class and not nice 19 alone: a nice-19 thread that is running keeps its CPU
/// for up to a scheduler slice (milliseconds) when a request's thread wakes, once per wake-up,
/// which added milliseconds to every read's p99 beside a sign-in flood; the kernel preempts an
/// idle-class thread at once, and counts a CPU running only such threads as idle when it places
/// a waking thread. An unprivileged thread may always lower its own priority; if the kernel
/// refuses anyway, hashing still works, only at a higher priority.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
            set_thread_priority_and_policy, thread_native_id,
        };
        if let Err(err) = set_thread_priority_and_policy(
            thread_native_id(),
            ThreadPriority::Min,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
        ) {
            tracing::warn!(error = ?err, "cannot put a password hashing thread in the idle scheduling class");
        }
        // The nice value after the class: setting the class above also sets the nice value, to
        // the class's minimum, and nice 19 is the fallback when the idle class is refused.
        if let Err(err) =
            rustix::process::setpriority_process(Some(rustix::thread::gettid()), LOWEST_PRIORITY)
        {
            tracing::warn!(error = %err, "cannot lower a password hashing thread's priority");
        }
    }
}

/// The largest nice value: the least CPU share when anything else is runnable.
#[cfg(target_os = "linux")]
const LOWEST_PRIORITY: i32 = 19;

/// One worker: takes jobs until every sender is gone. A job that panics is contained (its
/// caller sees an error), so the worker lives on.
fn work(queue: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let next = match queue.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        match next {
            Ok(job) => {
                let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
            }
            Err(mpsc::RecvError) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_strings_with_owasp_parameters() {
        let phc = hash_blocking(b"correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{phc}");
        let again = hash_blocking(b"correct horse battery").unwrap();
        assert_ne!(phc, again, "every hash has its own random salt");
        assert!(verify_blocking(b"correct horse battery", &phc).unwrap());
        assert!(!verify_blocking(b"correct horse batterY", &phc).unwrap());
        assert!(matches!(
            verify_blocking(b"x", "not a phc string"),
            Err(IdentityError::Hashing)
        ));
    }

    /// Many jobs, two permits: each job records how many jobs are inside at once, and waits at
    /// a two-party barrier, which only two jobs running together can pass. So the peak is
    /// exactly two when the bound holds, every run (no sleeping, no timing).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_more_than_the_concurrency_bound_at_once() {
        let hasher = Hasher::new(2);
        assert_eq!(hasher.concurrency(), 2);
        let inside = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let jobs = (0..16).map(|_| {
            let (hasher, inside, peak, barrier) = (
                hasher.clone(),
                inside.clone(),
                peak.clone(),
                barrier.clone(),
            );
            tokio::spawn(async move {
                hasher
                    .run(move || {
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        barrier.wait();
                        inside.fetch_sub(1, Ordering::SeqCst);
                        Ok(())
                    })
                    .await
            })
        });
        for job in futures::future::join_all(jobs).await {
            job.unwrap().unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        assert_eq!(inside.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_and_the_worker_lives_on() {
        let hasher = Hasher::new(1);
        let failed = hasher
            .run(|| -> Result<(), IdentityError> { panic!("argon2 blew up") })
            .await;
        assert!(matches!(failed, Err(IdentityError::Hashing)));
        assert_eq!(hasher.run(|| Ok(7)).await.unwrap(), 7);
    }

    /// A hash stored before the parameters changed (m = 19 MiB, t = 2) still verifies.
    #[test]
    fn hashes_with_earlier_parameters_still_verify() {
        let params = Params::new(19_456, 2, 1, None).unwrap();
        let earlier = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"correct horse battery")
            .unwrap()
            .to_string();
        assert!(earlier.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_blocking(b"correct horse battery", &earlier).unwrap());
        assert!(!verify_blocking(b"correct horse batterY", &earlier).unwrap());
    }

    /// Every hashing thread runs in the idle scheduling class at nice 19, so requests always
    /// run first.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_the_lowest_priority() {
        use thread_priority::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};
        let hasher = Hasher::new(2);
        for _ in 0..4 {
            let (class, nice) = hasher
                .run(|| {
                    let class = thread_priority::thread_schedule_policy()
                        .map_err(|_| IdentityError::Hashing)?;
                    let nice = rustix::process::getpriority_process(Some(rustix::thread::gettid()))
                        .map_err(|_| IdentityError::Hashing)?;
                    Ok((class, nice))
                })
                .await
                .unwrap();
            assert_eq!(
                class,
                ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle)
            );
            assert_eq!(nice, LOWEST_PRIORITY);
        }
        // The runtime's own threads keep the normal class.
        assert_eq!(
            thread_priority::thread_schedule_policy().unwrap(),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other)
        );
    }

    #[test]
    fn zero_concurrency_means_one() {
        assert_eq!(Hasher::new(0).concurrency(), 1);
    }
}
