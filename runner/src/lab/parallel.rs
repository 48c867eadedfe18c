//! Work the kernel does per namespace (creating one, pinging from it)
//! spread over a few threads, which the cores can share.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// More threads than this only queue up in the kernel's namespace locks.
const WORKERS: usize = 8;

/// `f` over `items` on a few threads at once, results in order.
pub fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() < 2 {
        return items.iter().map(f).collect();
    }
    on_workers(items, || (), |_, item| f(item))
}

/// `f` over `items` on worker threads of their own, even for one item,
/// each with the state `state` makes when it starts: for work that leaves
/// a thread changed (inside a namespace), which only a thread that does
/// nothing else may do.
pub fn on_workers<S, T: Sync, R: Send>(
    items: &[T],
    state: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &T) -> R + Sync,
) -> Vec<R> {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, WORKERS)
        .min(items.len());
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    let done = Mutex::new(&mut results);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                let mut state = state();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else { break };
                    let r = f(&mut state, item);
                    done.lock().unwrap()[i] = Some(r);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}
