//! Splitting a batch of rows into multi-row `INSERT`s whose SQL repeats from batch to batch.
//!
//! sqlx prepares each distinct SQL text once per connection and keeps it in the connection's
//! statement cache. A multi-row `INSERT` of exactly the batch's length has a new text for nearly
//! every batch (the trace writer's batches are whatever arrived in the last interval), so each
//! batch paid for compiling a statement with thousands of parameters, and evicted useful ones.
//! Cut into a few fixed sizes instead, at most `log2(largest) + 1` texts ever exist.

/// `rows` as consecutive chunks: as many of `largest` rows as fit, then the rest in descending
/// powers of two (e.g. 300 rows with `largest` 128: 128, 128, 32, 8, 4). `largest` is rounded
/// down to a power of two (at least 1). Every row is in exactly one chunk, in order.
pub(crate) fn power_of_two_chunks<T>(rows: &[T], largest: usize) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    power_of_two_sizes(rows.len(), largest).map(move |size| {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        chunk
    })
}

/// The lengths of [`power_of_two_chunks`]'s chunks of `rows` rows, for taking owned rows off an
/// iterator chunk by chunk.
pub(crate) fn power_of_two_sizes(rows: usize, largest: usize) -> impl Iterator<Item = usize> {
    let largest = 1usize << largest.max(1).ilog2();
    let mut rest = rows;
    std::iter::from_fn(move || {
        if rest == 0 {
            return None;
        }
        let size = if rest >= largest {
            largest
        } else {
            1usize << rest.ilog2()
        };
        rest -= size;
        Some(size)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sizes(n: usize, largest: usize) -> Vec<usize> {
        let rows: Vec<usize> = (0..n).collect();
        power_of_two_chunks(&rows, largest)
            .map(<[usize]>::len)
            .collect()
    }

    #[test]
    fn full_chunks_then_descending_powers_of_two() {
        assert_eq!(sizes(300, 128), [128, 128, 32, 8, 4]);
        assert_eq!(sizes(0, 128), Vec::<usize>::new());
        assert_eq!(sizes(1, 128), [1]);
        assert_eq!(sizes(127, 128), [64, 32, 16, 8, 4, 2, 1]);
        assert_eq!(sizes(5, 100), [4, 1]);
        assert_eq!(sizes(200, 100), [64, 64, 64, 8]);
        assert_eq!(sizes(3, 0), [1, 1, 1]);
    }

    proptest! {
        #[test]
        fn every_row_once_in_order_in_few_sizes(n in 0usize..5_000, largest in 0usize..2_000) {
            let rows: Vec<usize> = (0..n).collect();
            let chunks: Vec<&[usize]> = power_of_two_chunks(&rows, largest).collect();
            let joined: Vec<usize> = chunks.concat();
            prop_assert_eq!(&joined, &rows);
            for c in &chunks {
                prop_assert!(c.len().is_power_of_two());
                prop_assert!(c.len() <= largest.max(1));
            }
        }
    }
}
