//! The priority queue of Priority-Flood: cells by fill level, lowest first.

/// A monotone min-priority queue of cells by fill level (a radix heap, Ahuja, Mehlhorn, Orlin &
/// Tarjan 1990): every level pushed is at least the last one popped, as in Priority-Flood (whose
/// pit cells may queue levels below the lowest one queued, never below the last one taken).
/// Keys are the levels' bits made to sort as the levels do; an entry sits in the bucket of the
/// highest bit in which its key differs from the last key popped, so a push is an append and
/// each entry moves down at most 32 times. Equal levels come out in any order (the fill does not
/// depend on it).
pub(super) struct LevelQueue {
    buckets: [Vec<(u32, u32)>; 33],
    /// The key last popped: no key queued is below it.
    last: u32,
    /// The lowest key queued, once asked for while bucket 0 is empty (until a pop moves `last`).
    lowest: Option<u32>,
}

/// `level`'s bits as a key that sorts as the level does (not NaN).
pub(super) fn level_key(level: f32) -> u32 {
    let bits = level.to_bits();
    if bits & 0x8000_0000 != 0 {
        !bits
    } else {
        bits | 0x8000_0000
    }
}

/// The level of a [`level_key`].
fn key_level(key: u32) -> f32 {
    f32::from_bits(if key & 0x8000_0000 != 0 {
        key & 0x7fff_ffff
    } else {
        !key
    })
}

impl LevelQueue {
    pub(super) fn new() -> Self {
        LevelQueue {
            buckets: std::array::from_fn(|_| Vec::new()),
            last: 0,
            lowest: None,
        }
    }

    fn bucket(&self, key: u32) -> usize {
        (32 - (key ^ self.last).leading_zeros()) as usize
    }

    /// Queue cell `index` at `level` (not below the last level popped).
    pub(super) fn push(&mut self, level: f32, index: u32) {
        let key = level_key(level);
        debug_assert!(key >= self.last, "no level below the last one popped");
        let b = self.bucket(key);
        self.buckets[b].push((key, index));
        self.lowest = self.lowest.map(|lowest| lowest.min(key));
    }

    /// The lowest level queued, without taking it (nor moving what may be pushed next).
    pub(super) fn peek_level(&mut self) -> Option<f32> {
        if !self.buckets[0].is_empty() {
            return Some(key_level(self.last));
        }
        if self.lowest.is_none() {
            let b = (1..33).find(|&b| !self.buckets[b].is_empty())?;
            self.lowest = self.buckets[b].iter().map(|&(key, _)| key).min();
        }
        self.lowest.map(key_level)
    }

    /// Take a cell at the lowest level queued.
    pub(super) fn pop(&mut self) -> Option<u32> {
        if self.buckets[0].is_empty() {
            // the lowest non-empty bucket holds the lowest keys: the least of them becomes
            // `last`, and its entries spread over the buckets below
            let b = (1..33).find(|&b| !self.buckets[b].is_empty())?;
            let mut entries = std::mem::take(&mut self.buckets[b]);
            self.last = match self.lowest.take() {
                Some(lowest) => lowest,
                None => entries.iter().map(|&(key, _)| key).min()?,
            };
            for &entry in &entries {
                let to = self.bucket(entry.0);
                self.buckets[to].push(entry);
            }
            // keep the emptied bucket's allocation
            entries.clear();
            self.buckets[b] = entries;
        }
        self.buckets[0].pop().map(|(_, index)| index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_come_out_lowest_first_across_signs_and_as_they_rise() {
        let mut queue = LevelQueue::new();
        let levels = [3.5f32, -2.0, 0.0, -0.0, 1e-40, -1e30, 7.25, 3.5, 1e30];
        for (i, &level) in levels.iter().enumerate() {
            queue.push(level, i as u32);
        }
        let mut seen = Vec::new();
        while let Some(level) = queue.peek_level() {
            let i = queue.pop().unwrap();
            let queued = if i == 100 { 0.5 } else { levels[i as usize] };
            assert_eq!(queued.to_bits(), level.to_bits());
            // Priority-Flood pushes nothing below the level it just took
            if i == 2 {
                queue.push(0.5, 100);
            }
            seen.push(level);
        }
        assert_eq!(seen.len(), levels.len() + 1);
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
        assert_eq!(seen[0], -1e30);
        assert_eq!(*seen.last().unwrap(), 1e30);
        assert!(queue.pop().is_none());
    }

    /// A pit cell taken at 5 queues its neighbour at 6 after the queue was asked for its lowest
    /// level (7): 6 still comes out first.
    #[test]
    fn a_level_below_the_lowest_queued_but_above_the_last_taken_comes_out_first() {
        let mut queue = LevelQueue::new();
        queue.push(5.0, 0);
        queue.push(7.0, 1);
        assert_eq!(queue.peek_level(), Some(5.0));
        assert_eq!(queue.pop(), Some(0));
        assert_eq!(queue.peek_level(), Some(7.0));
        queue.push(6.0, 2);
        assert_eq!(queue.peek_level(), Some(6.0));
        assert_eq!(queue.pop(), Some(2));
        assert_eq!(queue.pop(), Some(1));
        assert_eq!((queue.peek_level(), queue.pop()), (None, None));
    }

    #[test]
    fn keys_sort_as_the_levels_do() {
        let levels = [
            f32::NEG_INFINITY,
            -1.0,
            -f32::MIN_POSITIVE,
            -0.0,
            0.0,
            1e-45,
            2.0,
            f32::INFINITY,
        ];
        for w in levels.windows(2) {
            assert!(level_key(w[0]) <= level_key(w[1]), "{w:?}");
            assert_eq!(key_level(level_key(w[1])).to_bits(), w[1].to_bits());
        }
    }
}
