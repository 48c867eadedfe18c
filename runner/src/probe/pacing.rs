//! How a probe paces itself: its window, its retries, and what ends it
//! early (the network refusing it, or an observer's proof that nothing of
//! it can arrive) or late (an observer that sees the way still being
//! resolved).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a probe watches: for how long, and whether a refusal ends it.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    pub window: Duration,
    /// A negative assertion may stop early once the network has refused
    /// outright (a TCP reset, an ICMP unreachable, no route) twice in a row:
    /// nothing of an attempt that was refused can still arrive, and a lab
    /// does not change while an assertion runs. Silent drops still watch
    /// the whole window, unless an observer proves them (`observed`).
    pub stop_when_refused: bool,
    /// What an observer found so far, where one looks on.
    pub observed: Option<Arc<Observed>>,
}

/// What an observer tells the probe it looks on.
#[derive(Debug, Default)]
pub struct Observed {
    /// Proof that nothing can arrive (a rule that drops the probe's
    /// packets counted them): the probe ends at its next attempt, and its
    /// listener without the grace for late tokens.
    proven: AtomicBool,
    /// The window may not end before this: the way is still being
    /// resolved.
    held_until: Mutex<Option<Instant>>,
}

/// The longest an observer may hold a window open beyond its end: the
/// kernel's own time to give up on a neighbour (three solicitations a
/// second apart), and a window's worth after it.
pub const MAX_HOLD: Duration = Duration::from_secs(3);

impl Watch {
    fn is_proven(&self) -> bool {
        self.observed
            .as_ref()
            .is_some_and(|o| o.proven.load(Ordering::SeqCst))
    }

    fn held_until(&self) -> Option<Instant> {
        *self.observed.as_ref()?.held_until.lock().unwrap()
    }

    /// The longest the probe may run: its window, and what an observer may
    /// hold it open beyond that.
    pub fn longest(&self) -> Duration {
        match self.observed {
            Some(_) => self.window + MAX_HOLD + self.window,
            None => self.window,
        }
    }
}

/// What an observer made of the probe so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    Nothing,
    /// Nothing of the probe can arrive.
    Proof,
    /// The way is still being resolved (a neighbour's address asked for
    /// and not answered yet): a window that ends now would end on a
    /// question the network has not answered, so it runs on.
    Resolving,
}

/// Looks on while a probe runs, from the thread that started it.
pub trait Observer {
    /// Called every few milliseconds until the probe ends.
    fn tick(&mut self) -> Look;
}

/// How often an observer is asked.
const TICK: Duration = Duration::from_millis(2);

/// Runs `probe` on a thread of its own while `observer` looks on from this
/// one; a proof it finds ends the probe early.
pub fn observed<R: Send>(
    mut watch: Watch,
    observer: Option<&mut dyn Observer>,
    probe: impl FnOnce(Watch) -> R + Send,
) -> R {
    let Some(observer) = observer else {
        return probe(watch);
    };
    let observed = Arc::new(Observed::default());
    watch.observed = Some(observed.clone());
    let window = watch.window;
    // The probe says when it ends, so that its result is taken at once,
    // not at the observer's next tick.
    let (ended, end) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        let running = s.spawn(move || {
            let r = probe(watch);
            let _ = ended.send(());
            r
        });
        while end.recv_timeout(TICK) == Err(RecvTimeoutError::Timeout) {
            if !observed.proven.load(Ordering::SeqCst) {
                match observer.tick() {
                    Look::Nothing => {}
                    Look::Proof => observed.proven.store(true, Ordering::SeqCst),
                    // Once resolved, the probe gets a window from there.
                    Look::Resolving => {
                        *observed.held_until.lock().unwrap() = Some(Instant::now() + window);
                    }
                }
            }
        }
        running
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Retry pacing: quick at first (the network usually works at once), then
/// backing off so a long window does not flood the lab.
pub struct Pacer {
    start: Instant,
    deadline: Instant,
    next_gap: Duration,
    refusals: u32,
    watch: Watch,
}

impl Pacer {
    pub fn new(watch: &Watch) -> Pacer {
        let start = Instant::now();
        Pacer {
            start,
            deadline: start + watch.window,
            next_gap: Duration::from_millis(10),
            refusals: 0,
            watch: watch.clone(),
        }
    }

    /// Records how the last attempt ended: refused outright or not.
    pub fn answer(&mut self, refused: bool) {
        self.refusals = if refused { self.refusals + 1 } else { 0 };
    }

    /// Whether the probe has seen enough: the window is over, or the
    /// network keeps refusing and that is all a negative probe needs.
    pub fn done(&self) -> bool {
        self.expired() || self.ended_early() || crate::stop::requested()
    }

    /// Whether the probe ends before its window: refused, or proven
    /// dropped.
    pub fn ended_early(&self) -> bool {
        self.refused() || self.proven()
    }

    /// Whether the network keeps refusing a negative probe.
    pub fn refused(&self) -> bool {
        self.watch.stop_when_refused && self.refusals >= 2
    }

    /// An observer proved that nothing of the probe can arrive.
    pub fn proven(&self) -> bool {
        self.watch.is_proven()
    }

    /// When the window ends: its deadline, or later while an observer
    /// holds it open, up to the longest the watch allows.
    fn end(&self) -> Instant {
        let most = self.start + self.watch.longest();
        self.watch
            .held_until()
            .map_or(self.deadline, |held| held.min(most).max(self.deadline))
    }

    pub fn remaining(&self) -> Duration {
        self.end().saturating_duration_since(Instant::now())
    }

    pub fn expired(&self) -> bool {
        Instant::now() >= self.end()
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// How long to wait for an answer before trying again.
    pub fn gap(&mut self) -> Duration {
        let gap = self.next_gap.min(self.remaining());
        // Observed, it tries more often: each attempt is more evidence,
        // and a proof ends it at the next one.
        let most = if self.watch.observed.is_some() {
            20
        } else {
            200
        };
        self.next_gap = (self.next_gap * 2).min(Duration::from_millis(most));
        gap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacer_backs_off_and_respects_the_deadline() {
        let mut p = Pacer::new(&Watch {
            window: Duration::from_secs(10),
            ..Watch::default()
        });
        let gaps: Vec<_> = (0..8).map(|_| p.gap().as_millis()).collect();
        assert_eq!(gaps, vec![10, 20, 40, 80, 160, 200, 200, 200]);
        let mut short = Pacer::new(&Watch {
            window: Duration::from_millis(5),
            ..Watch::default()
        });
        assert!(short.gap() <= Duration::from_millis(5));
        // Observed, it tries at least every 20 ms, and a proof ends it.
        let seen = Arc::new(Observed::default());
        let mut observed = Pacer::new(&Watch {
            window: Duration::from_secs(10),
            stop_when_refused: true,
            observed: Some(seen.clone()),
        });
        let gaps: Vec<_> = (0..4).map(|_| observed.gap().as_millis()).collect();
        assert_eq!(gaps, vec![10, 20, 20, 20]);
        assert!(!observed.done());
        seen.proven.store(true, Ordering::SeqCst);
        assert!(observed.done() && observed.ended_early() && !observed.refused());
    }

    #[test]
    fn only_repeated_refusals_end_a_negative_watch_early() {
        let mut p = Pacer::new(&Watch {
            window: Duration::from_secs(10),
            stop_when_refused: true,
            observed: None,
        });
        p.answer(true);
        assert!(!p.done());
        p.answer(false);
        p.answer(true);
        assert!(!p.done(), "refusals must be consecutive");
        p.answer(true);
        assert!(p.done() && p.refused());
        let mut positive = Pacer::new(&Watch {
            window: Duration::from_secs(10),
            ..Watch::default()
        });
        positive.answer(true);
        positive.answer(true);
        assert!(
            !positive.done(),
            "a positive probe keeps trying until its deadline"
        );
    }

    #[test]
    fn a_hold_keeps_the_window_open_but_not_for_ever() {
        let seen = Arc::new(Observed::default());
        let watch = Watch {
            window: Duration::from_millis(20),
            stop_when_refused: true,
            observed: Some(seen.clone()),
        };
        let p = Pacer::new(&watch);
        std::thread::sleep(Duration::from_millis(25));
        assert!(p.expired(), "no hold: the window ends on time");
        *seen.held_until.lock().unwrap() = Some(Instant::now() + Duration::from_millis(50));
        assert!(!p.expired() && p.remaining() > Duration::from_millis(40));
        // A hold far beyond the longest a window may be held is cut there.
        *seen.held_until.lock().unwrap() = Some(Instant::now() + Duration::from_secs(3600));
        let left = p.remaining();
        assert!(left <= MAX_HOLD + watch.window && left > MAX_HOLD - Duration::from_millis(100));
        assert!(watch.longest() >= MAX_HOLD + watch.window * 2);
    }
}
