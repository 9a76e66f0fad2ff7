//! The dataflow's timestamps: `(epoch, watermark)` in the product order.
//!
//! The watermark half is event time (epoch milliseconds; a sequence for a
//! table without a watermark), what every operator's frontier has always
//! meant. The epoch half counts checkpoints (`crate::checkpoint`): sources
//! move to the next epoch when one is asked for. Without checkpoints the
//! epoch stays where the run started.

use timely::order::Product;

/// A dataflow timestamp: `outer` is the checkpoint epoch, `inner` the
/// watermark.
pub(crate) type Time = Product<u64, u64>;

/// The time `(epoch, watermark)`.
pub(crate) fn at(epoch: u64, watermark: u64) -> Time {
    Product::new(epoch, watermark)
}

/// The least watermark and the least epoch of a frontier (`None` when it
/// is empty: the input has ended).
pub(crate) fn lows<'a>(frontier: impl IntoIterator<Item = &'a Time>) -> Option<(u64, u64)> {
    frontier.into_iter().fold(None, lower)
}

/// `low` lowered to `t`, element by element (a fold step of [`lows`]).
pub(crate) fn lower(low: Option<(u64, u64)>, t: &Time) -> Option<(u64, u64)> {
    Some(match low {
        None => (t.inner, t.outer),
        Some((w, e)) => (w.min(t.inner), e.min(t.outer)),
    })
}

/// The epoch of a message: the least of its stamp's (a message given
/// under one capability has one time); `None` for a message sent under no
/// capability, which makes no progress claim.
pub(crate) fn epoch_of(stamp: &timely::progress::Stamp<Time>) -> Option<u64> {
    stamp.iter().map(|t| t.outer).min()
}

/// The least time of a message's stamp, element by element.
pub(crate) fn least(stamp: &timely::progress::Stamp<Time>) -> Option<Time> {
    lows(stamp.iter()).map(|(w, e)| at(e, w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watermark_and_the_epoch_of_a_frontier_are_their_own_minima() {
        // A source in the new epoch behind one still in the old.
        assert_eq!(lows(&[at(4, 100), at(3, 500)]), Some((100, 3)));
        assert_eq!(lows(&[at(4, 100)]), Some((100, 4)));
        assert_eq!(lows(&[]), None);
    }
}
