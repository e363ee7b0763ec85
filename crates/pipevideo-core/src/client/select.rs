//! A race between two futures: whichever finishes first wins, the other is left unfinished.
//!
//! `futures_util::future::select` did this before; it is the only thing the client needed of
//! `futures-util` besides its async mutex (see `baton`), and `futures-util` brings
//! `futures-task` and `slab` with it. With `std::future::poll_fn` the race is a few lines.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;

/// Which of the two futures of [`select`] finished first, with its output.
#[derive(Debug)]
pub(super) enum Either<A, B> {
    /// The first future finished first.
    Left(A),
    /// The second future finished first.
    Right(B),
}

/// Polls `a`, then `b`, each time the task is woken, until one of them is ready. `a` is polled
/// first, so when both are ready at once `a` wins: put the future that must win ties first
/// (the work before its timer, cancellation before a poll). Both are taken `Unpin` (e.g.
/// `std::pin::pin!`ed, or borrowed), and so is the race itself, which can be one side of
/// another race.
pub(super) fn select<A, B>(
    mut a: A,
    mut b: B,
) -> impl Future<Output = Either<A::Output, B::Output>> + Unpin
where
    A: Future + Unpin,
    B: Future + Unpin,
{
    poll_fn(move |cx| {
        if let Poll::Ready(out) = Pin::new(&mut a).poll(cx) {
            return Poll::Ready(Either::Left(out));
        }
        Pin::new(&mut b).poll(cx).map(Either::Right)
    })
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::future::{pending, ready};
    use std::pin::pin;
    use std::rc::Rc;

    use futures_channel::oneshot;
    use futures_executor::LocalPool;
    use futures_util::FutureExt as _;
    use futures_util::task::LocalSpawnExt as _;

    use super::*;

    #[test]
    fn the_first_ready_future_wins_and_the_first_wins_ties() {
        let out = select(pending::<u8>(), ready(7u8)).now_or_never();
        assert!(matches!(out, Some(Either::Right(7))));
        let out = select(ready(1u8), ready(2u8)).now_or_never();
        assert!(matches!(out, Some(Either::Left(1))));
        let out = select(pending::<u8>(), pending::<u8>()).now_or_never();
        assert!(out.is_none());
    }

    #[test]
    fn a_wake_of_either_side_is_not_lost() {
        // Each side is woken from outside the task, in turn: the select must be polled again
        // (both futures registered their waker) and report the side that fired.
        for fire_second in [false, true] {
            let mut pool = LocalPool::new();
            let (tx_a, rx_a) = oneshot::channel::<u8>();
            let (tx_b, rx_b) = oneshot::channel::<u8>();
            let got = Rc::new(Cell::new(None));
            let seen = Rc::clone(&got);
            pool.spawner()
                .spawn_local(async move {
                    let a = pin!(rx_a);
                    let b = pin!(rx_b);
                    seen.set(Some(match select(a, b).await {
                        Either::Left(v) => ('a', v.unwrap()),
                        Either::Right(v) => ('b', v.unwrap()),
                    }));
                })
                .unwrap();
            pool.run_until_stalled();
            assert_eq!(got.get(), None);
            if fire_second {
                tx_b.send(2).unwrap();
            } else {
                tx_a.send(1).unwrap();
            }
            pool.run_until_stalled();
            let want = if fire_second { ('b', 2) } else { ('a', 1) };
            assert_eq!(got.get(), Some(want));
        }
    }
}
