//! Password hashing: argon2id with OWASP's recommended parameters, run off the async runtime
//! behind a bounded semaphore.
//!
//! argon2 is deliberately slow and memory-hungry (about 19 MiB and tens of milliseconds per
//! hash). Run on the async workers it would stall every other request; run unbounded on the
//! blocking pool, a flood of sign-ins would take every core and memory with it. So each hash runs
//! in `spawn_blocking` while holding one of `hash_concurrency` permits: the flood queues instead.

use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::{OnceCell, Semaphore};

use crate::{IdentityError, Password, PasswordHash};

/// OWASP Password Storage Cheat Sheet, argon2id: m = 19 MiB, t = 2, p = 1.
const M_COST_KIB: u32 = 19_456;
const T_COST: u32 = 2;
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

/// Runs password hashes on the blocking pool, at most `concurrency` at a time.
#[derive(Clone)]
pub(crate) struct Hasher {
    permits: Arc<Semaphore>,
    concurrency: usize,
    /// The hash that sign-ins without a credential verify against, so that they cost as much
    /// as a wrong password. Computed on first use, with the same parameters as real hashes.
    dummy: Arc<OnceCell<String>>,
}

impl Hasher {
    /// A hasher running at most `concurrency` hashes at once (at least one).
    pub(crate) fn new(concurrency: usize) -> Self {
        let concurrency = concurrency.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            dummy: Arc::new(OnceCell::new()),
        }
    }

    /// How many hashes may run at once.
    pub(crate) fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Runs `job` on the blocking pool once a permit is free. The permit moves into the job,
    /// so it is held until the job ends even if the caller stops waiting (a timed-out request):
    /// the bound is on CPU work actually running, not on callers still interested.
    pub(crate) async fn run<T, F>(&self, job: F) -> Result<T, IdentityError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, IdentityError> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| IdentityError::Hashing)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job()
        })
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "password hashing task failed");
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_strings_with_owasp_parameters() {
        let phc = hash_blocking(b"correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
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

    #[test]
    fn zero_concurrency_means_one() {
        assert_eq!(Hasher::new(0).concurrency(), 1);
    }
}
