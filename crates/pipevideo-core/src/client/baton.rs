//! The client's slot queue: one shared-pacing store ask at a time per client, the waiting
//! tasks served in arrival order.
//!
//! A baton passes from task to task. [`BatonQueue::acquire`] takes it at once when nobody
//! holds it, else enqueues a `oneshot` sender and waits on the receiver. When the holder's
//! [`Baton`] drops, the baton is sent to the first waiter still alive (a failed send means that
//! waiter's future was dropped: the next one is tried), or the queue is marked free when nobody
//! waits. A waiter dropped after the baton was sent to it, before it saw it, passes it on from
//! its own drop: cancellation never loses the baton.
//!
//! **Why not a crate.** This was `futures_util::lock::Mutex<()>` (fair, FIFO); it is the only
//! thing the client needed of `futures-util` besides a two-way select (see `select`), and
//! `futures-util` costs the core three crates (itself, `futures-task`, `slab`), `async-lock`
//! six. The queue is built from `futures-channel`'s `oneshot`, which the core already uses,
//! and a `std::sync::Mutex`: no unsafe code, no waker bookkeeping of its own.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use futures_channel::oneshot;

/// A first-come-first-served queue for one baton. See the module documentation.
#[derive(Debug, Default)]
pub(super) struct BatonQueue {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Someone holds the baton (or it is on its way to a waiter).
    busy: bool,
    /// The waiters, first come first.
    waiters: VecDeque<oneshot::Sender<()>>,
}

impl BatonQueue {
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// Every change of the state happens under this lock, sends and receives included, so a
    /// hand-off and a waiter's drop never overlap. Nothing under it panics, but a panic
    /// elsewhere must not wedge the queue: a poisoned lock is used as is.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for the baton; it is held until the returned [`Baton`] drops. Dropping this future
    /// before it finishes gives up its place in the queue (and passes the baton on, if it had
    /// already been handed to it).
    pub(super) async fn acquire(&self) -> Baton<'_> {
        loop {
            let receiver = {
                let mut state = self.state();
                if !state.busy {
                    state.busy = true;
                    return Baton { queue: self };
                }
                let (sender, receiver) = oneshot::channel();
                state.waiters.push_back(sender);
                receiver
            };
            let mut waiter = Waiter {
                queue: self,
                receiver,
                armed: true,
            };
            let received = (&mut waiter.receiver).await;
            // Disarm the drop: from here this future owns the baton (or never got it).
            waiter.armed = false;
            if received.is_ok() {
                return Baton { queue: self };
            }
            // Our sender was dropped unsent. Only `release` drops senders, and only after a
            // send to a dropped receiver (not ours, which lives): unreachable, but queueing
            // again is the safe answer.
        }
    }

    /// Hands the baton to the first waiter still alive, or marks the queue free.
    fn release(&self) {
        let mut state = self.state();
        while let Some(next) = state.waiters.pop_front() {
            if next.send(()).is_ok() {
                return;
            }
        }
        state.busy = false;
    }
}

/// A task waiting in [`BatonQueue::acquire`]; its drop (the future dropped mid-wait) passes on
/// a baton it was sent and did not see.
struct Waiter<'a> {
    queue: &'a BatonQueue,
    receiver: oneshot::Receiver<()>,
    /// Still waiting: the receiver may hold a baton nobody saw.
    armed: bool,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let receiver = &mut self.receiver;
        // Under the queue's lock, so no hand-off runs meanwhile. After `close`, a send fails
        // (and `release` tries the next waiter); a send that came before is in the channel.
        let handed = {
            let _state = self.queue.state();
            receiver.close();
            matches!(receiver.try_recv(), Ok(Some(())))
        };
        if handed {
            self.queue.release();
        }
    }
}

/// The baton, held: the next waiter gets it when this drops.
#[derive(Debug)]
pub(super) struct Baton<'a> {
    queue: &'a BatonQueue,
}

impl Drop for Baton<'_> {
    fn drop(&mut self) {
        self.queue.release();
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::future::Future;
    use std::pin::{Pin, pin};
    use std::rc::Rc;
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};

    use futures_executor::LocalPool;
    use futures_util::FutureExt as _;
    use futures_util::task::LocalSpawnExt as _;

    use super::*;

    fn poll<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
        f.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_free_queue_hands_the_baton_at_once_and_takes_it_back() {
        let queue = BatonQueue::new();
        let baton = queue.acquire().now_or_never().expect("free");
        assert!(queue.acquire().now_or_never().is_none());
        drop(baton);
        let again = queue.acquire().now_or_never().expect("free again");
        drop(again);
        assert!(!queue.state().busy);
        assert!(queue.state().waiters.is_empty());
    }

    #[test]
    fn waiters_are_served_first_come_first_served_skipping_the_dropped() {
        let queue = BatonQueue::new();
        let held = queue.acquire().now_or_never().unwrap();
        let mut second = pin!(queue.acquire());
        let mut third = Box::pin(queue.acquire());
        let mut fourth = pin!(queue.acquire());
        assert!(poll(second.as_mut()).is_pending());
        assert!(poll(third.as_mut()).is_pending());
        assert!(poll(fourth.as_mut()).is_pending());
        // The third gives up while waiting: its place is skipped.
        drop(third);
        drop(held);
        // The baton went to the second; the fourth still waits, and so does a newcomer.
        let Poll::Ready(held) = poll(second.as_mut()) else {
            panic!("the second is next")
        };
        assert!(poll(fourth.as_mut()).is_pending());
        let mut late = pin!(queue.acquire());
        assert!(poll(late.as_mut()).is_pending());
        drop(held);
        let Poll::Ready(held) = poll(fourth.as_mut()) else {
            panic!("the fourth is next")
        };
        assert!(poll(late.as_mut()).is_pending());
        drop(held);
        assert!(poll(late.as_mut()).is_ready());
    }

    #[test]
    fn a_waiter_dropped_after_the_hand_off_passes_the_baton_on() {
        let queue = BatonQueue::new();
        let held = queue.acquire().now_or_never().unwrap();
        let mut second = Box::pin(queue.acquire());
        let mut third = pin!(queue.acquire());
        assert!(poll(second.as_mut()).is_pending());
        assert!(poll(third.as_mut()).is_pending());
        // Sent to the second, which is dropped before it is polled again (a timeout or a
        // `select` chose the other branch): the baton must reach the third.
        drop(held);
        drop(second);
        let Poll::Ready(held) = poll(third.as_mut()) else {
            panic!("the baton was lost")
        };
        drop(held);
        assert!(!queue.state().busy);
        // And when nobody else waits, the queue becomes free.
        let held = queue.acquire().now_or_never().unwrap();
        let mut only = Box::pin(queue.acquire());
        assert!(poll(only.as_mut()).is_pending());
        drop(held);
        drop(only);
        assert!(!queue.state().busy);
        assert!(queue.acquire().now_or_never().is_some());
    }

    #[test]
    fn many_tasks_each_get_it_once_in_arrival_order_and_never_two_at_once() {
        let queue = Rc::new(BatonQueue::new());
        let arrived = Rc::new(RefCell::new(Vec::new()));
        let log = Rc::new(RefCell::new(Vec::new()));
        let inside = Rc::new(RefCell::new(0u32));
        let mut pool = LocalPool::new();
        let spawner = pool.spawner();
        // The first task holds the baton across a yield so that all the others queue.
        for task in 0..50u32 {
            let (queue, arrived, log, inside) = (
                Rc::clone(&queue),
                Rc::clone(&arrived),
                Rc::clone(&log),
                Rc::clone(&inside),
            );
            spawner
                .spawn_local(async move {
                    // Joins the queue in the same poll (`acquire` enqueues on its first poll).
                    arrived.borrow_mut().push(task);
                    let baton = queue.acquire().await;
                    *inside.borrow_mut() += 1;
                    assert_eq!(*inside.borrow(), 1, "two tasks hold the baton");
                    log.borrow_mut().push(task);
                    // Let every other task run (and queue) while this one holds it.
                    yield_now().await;
                    *inside.borrow_mut() -= 1;
                    drop(baton);
                })
                .unwrap();
        }
        pool.run_until_stalled();
        assert_eq!(log.borrow().len(), 50);
        assert_eq!(*log.borrow(), *arrived.borrow());
        assert!(!queue.state().busy);
    }

    #[test]
    fn threads_contending_lose_no_wakeup_and_no_baton() {
        // Several OS threads, each with its own executor, acquire and release many times;
        // some waits are abandoned (dropped) at random points. Every thread must finish.
        let queue = Arc::new(BatonQueue::new());
        let counter = Arc::new(Mutex::new(0u64));
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let (queue, counter) = (Arc::clone(&queue), Arc::clone(&counter));
                std::thread::spawn(move || {
                    for i in 0..500u64 {
                        if (i + t) % 7 == 0 {
                            // Start waiting, then give up.
                            let mut abandoned = Box::pin(queue.acquire());
                            let _ = poll(abandoned.as_mut());
                            drop(abandoned);
                            continue;
                        }
                        futures_executor::block_on(async {
                            let _baton = queue.acquire().await;
                            *counter.lock().unwrap() += 1;
                        });
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let expected = (0..4u64)
            .map(|t| (0..500u64).filter(|i| (i + t) % 7 != 0).count() as u64)
            .sum::<u64>();
        assert_eq!(*counter.lock().unwrap(), expected);
        assert!(!queue.state().busy);
        assert!(queue.state().waiters.is_empty());
    }

    /// Pending once (after waking itself), then ready: lets the other tasks of a `LocalPool`
    /// run.
    async fn yield_now() {
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if yielded {
                Poll::Ready(())
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
        .await;
    }
}
