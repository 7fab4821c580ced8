//! Sign-in throttling with growing delays instead of a lock. Failures are counted per client
//! address, per account name (whether or not such an account exists, so the answers do not
//! tell names apart) and per pair; past a free allowance each further failure doubles the wait
//! before the next attempt, up to a cap. The per-account cap is short, so whoever guesses at an
//! account can delay its owner by seconds but never lock them out; the owner signing in from
//! an address that has not failed for it is not slowed by the pair or address counters.
//!
//! An attempt is counted as failed when it starts (under one lock) and forgiven when it
//! succeeds, so parallel guesses cannot slip past the count. Kept in memory only: client
//! addresses are never stored, and each instance throttles on its own.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Free failures and the longest wait of one kind of counter.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub free: u32,
    pub cap: Duration,
}

impl Rule {
    /// The wait after `failures` failures: none within the allowance, then 1 s, 2 s, 4 s, …
    fn delay(&self, failures: u32) -> Duration {
        if failures <= self.free {
            return Duration::ZERO;
        }
        let exp = (failures - self.free - 1).min(20);
        Duration::from_secs(1u64 << exp).min(self.cap)
    }
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    failures: u32,
    not_before: Instant,
    last: Instant,
}

#[derive(Debug)]
struct Table<K> {
    rule: Rule,
    map: HashMap<K, Counter>,
}

/// Counters are forgotten this long after their last failure.
const FORGET_AFTER: Duration = Duration::from_secs(3600);
/// Tables are swept of forgotten counters when they grow past this.
const SWEEP_AT: usize = 100_000;

impl<K: Hash + Eq + Clone> Table<K> {
    fn new(rule: Rule) -> Self {
        Table {
            rule,
            map: HashMap::new(),
        }
    }

    fn wait(&self, key: &K, now: Instant) -> Duration {
        self.map
            .get(key)
            .filter(|c| now.duration_since(c.last) < FORGET_AFTER)
            .map_or(Duration::ZERO, |c| {
                c.not_before.saturating_duration_since(now)
            })
    }

    fn fail(&mut self, key: &K, now: Instant) {
        if self.map.len() > SWEEP_AT {
            self.map
                .retain(|_, c| now.duration_since(c.last) < FORGET_AFTER);
        }
        let c = self.map.entry(key.clone()).or_insert(Counter {
            failures: 0,
            not_before: now,
            last: now,
        });
        if now.duration_since(c.last) >= FORGET_AFTER {
            c.failures = 0;
        }
        c.failures += 1;
        c.last = now;
        c.not_before = now + self.rule.delay(c.failures);
    }

    fn forgive_one(&mut self, key: &K) {
        if let Some(c) = self.map.get_mut(key) {
            c.failures = c.failures.saturating_sub(1);
            c.not_before = c.last + self.rule.delay(c.failures);
        }
    }

    fn reset(&mut self, key: &K) {
        self.map.remove(key);
    }
}

#[derive(Debug)]
struct Tables {
    client: Table<IpAddr>,
    account: Table<String>,
    pair: Table<(IpAddr, String)>,
}

/// The throttle of `/login`.
#[derive(Debug)]
pub struct LoginThrottle {
    tables: Mutex<Tables>,
}

/// An attempt under way (already counted as failed until [`LoginThrottle::succeeded`]).
#[derive(Debug)]
pub struct Attempt {
    client: Option<IpAddr>,
    account: String,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new(
            Rule {
                free: 10,
                cap: Duration::from_secs(15 * 60),
            },
            Rule {
                free: 20,
                cap: Duration::from_secs(30),
            },
            Rule {
                free: 5,
                cap: Duration::from_secs(15 * 60),
            },
        )
    }
}

impl LoginThrottle {
    /// Rules per client address (all accounts), per account (all addresses), per pair.
    pub fn new(client: Rule, account: Rule, pair: Rule) -> Self {
        LoginThrottle {
            tables: Mutex::new(Tables {
                client: Table::new(client),
                account: Table::new(account),
                pair: Table::new(pair),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        match self.tables.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Starts an attempt at `account` from `client`: Err(wait) while one of its counters asks
    /// to wait, else the attempt, counted as failed until it succeeds.
    pub fn begin(&self, client: Option<IpAddr>, account: &str) -> Result<Attempt, Duration> {
        self.begin_at(client, account, Instant::now())
    }

    fn begin_at(
        &self,
        client: Option<IpAddr>,
        account: &str,
        now: Instant,
    ) -> Result<Attempt, Duration> {
        let account = normalise(account);
        let mut t = self.lock();
        let mut wait = t.account.wait(&account, now);
        if let Some(ip) = client {
            wait = wait
                .max(t.client.wait(&ip, now))
                .max(t.pair.wait(&(ip, account.clone()), now));
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        t.account.fail(&account, now);
        if let Some(ip) = client {
            t.client.fail(&ip, now);
            t.pair.fail(&(ip, account.clone()), now);
        }
        Ok(Attempt { client, account })
    }

    /// The attempt signed in: the account and the pair start afresh; the address keeps its
    /// other failures (signing in to one's own account does not clear guesses at others).
    pub fn succeeded(&self, attempt: Attempt) {
        let mut t = self.lock();
        t.account.reset(&attempt.account);
        if let Some(ip) = attempt.client {
            t.pair.reset(&(ip, attempt.account));
            t.client.forgive_one(&ip);
        }
    }
}

/// The account key: the name as the sign-in looks it up (trimmed).
fn normalise(account: &str) -> String {
    account.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn delays_grow_and_are_capped() {
        let r = Rule {
            free: 2,
            cap: Duration::from_secs(30),
        };
        let d: Vec<u64> = (0..10).map(|n| r.delay(n).as_secs()).collect();
        assert_eq!(d, [0, 0, 0, 1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(r.delay(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn a_guesser_slows_itself_but_cannot_lock_the_owner_out() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        let attacker = ip("203.0.113.9");
        let mut refused_at = None;
        for i in 0..100 {
            if t.begin_at(attacker, "admin", now).is_err() {
                refused_at = Some(i);
                break;
            }
        }
        // 5 free failures for the pair; the 6th failure starts the wait
        assert_eq!(refused_at, Some(6));
        // the owner, from another address, is not held up by the pair or address counters
        let owner = ip("198.51.100.20");
        let a = t.begin_at(owner, "admin", now).expect("the owner may try");
        t.succeeded(a);
        // an unknown name is throttled exactly like a known one
        for _ in 0..6 {
            let _ = t.begin_at(attacker, "nobody-by-this-name", now);
        }
        assert!(t.begin_at(attacker, "nobody-by-this-name", now).is_err());
    }

    #[test]
    fn many_addresses_delay_an_account_by_at_most_the_account_cap() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for i in 0..200u32 {
            let a = Some(IpAddr::from([10, 0, (i / 250) as u8, (i % 250) as u8]));
            let _ = t.begin_at(a, "admin", now);
        }
        let wait = t
            .begin_at(ip("198.51.100.20"), "admin", now)
            .expect_err("the account is slowed down");
        assert!(wait <= Duration::from_secs(30), "{wait:?}");
        let later = now + Duration::from_secs(31);
        assert!(t.begin_at(ip("198.51.100.20"), "admin", later).is_ok());
    }

    #[test]
    fn parallel_attempts_are_counted_when_they_start() {
        let t = std::sync::Arc::new(LoginThrottle::default());
        let handles: Vec<_> = (0..100)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || t.begin(ip("203.0.113.9"), "admin").is_ok())
            })
            .collect();
        let checked = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|ok| *ok)
            .count();
        assert_eq!(checked, 6, "5 free attempts, the 6th starts the wait");
    }
}
